/*
 * prover/soundness.c — the Johnson-bound-regime soundness calculation
 * (a C transcription of ethereum/soundcalc's FRI-based circuit analysis).
 */
#include "prover/soundness.h"

#include <math.h>

#include "prover/field.h"

/* log2 |F| for F = F_p^3, p = 2^64 - 2^32 + 1. */
static double log2_field(void) { return 3.0 * log2((double)PRV_GL_P); }

static int bits_of(double log2_err) { return (int)floor(-log2_err); }

/* log2 of BCHKS25 Theorem 4.2's error for a random linear combination
 * (soundcalc JohnsonBoundRegime.get_error_linear). */
static double log2_error_linear(double rho, double dimension, double eta)
{
    double sr = sqrt(rho);
    double pp = 1.0 - sr - eta;
    double m = ceil(sr / (1.0 - sr - pp));
    if (m < 3)
        m = 3;
    double ms = m + 0.5;
    double n = dimension / rho;
    double first = (2.0 * pow(ms, 5) + 3.0 * ms * (pp * rho)) * n / (3.0 * rho * sr);
    double second = ms / sr;
    return log2(first + second) - log2_field();
}

int prv_soundness_bits(const prv_soundness_input *in, prv_soundness_report *report)
{
    prv_soundness_report r = { 0 };
    double rho = ldexp(1.0, -(int)in->log_blowup);
    double sr = sqrt(rho);
    double eta = sr / 100.0; /* soundcalc default gap when |F| > 2^150 */
    double pp = 1.0 - sr - eta;
    double n = ldexp(1.0, (int)in->log_trace_len);
    double lf = log2_field();

    double lin = log2_error_linear(rho, n, eta);
    r.batching = bits_of(lin + log2((double)(in->batch_size > 1 ? in->batch_size - 1 : 1)));

    double acc = 1.0;
    r.ncommit = in->fri_rounds < PRV_SOUNDNESS_MAX_ROUNDS ? in->fri_rounds : PRV_SOUNDNESS_MAX_ROUNDS;
    int total = r.batching;
    for (unsigned i = 0; i < r.ncommit; i++) {
        double arity = ldexp(1.0, (int)in->fri_log_arity);
        acc *= arity;
        r.commit[i] = bits_of(log2_error_linear(rho, n / acc, eta) + log2(arity - 1.0));
        if (r.commit[i] < total)
            total = r.commit[i];
    }

    r.query = bits_of((double)in->num_queries * log2(1.0 - pp) - (double)in->grinding_bits);

    double list = 1.0 / (2.0 * eta * sr);
    r.ali = bits_of(log2(list * (double)in->ncols) - lf);
    double k = (double)(in->opening_points ? in->opening_points : 1);
    /* The denominator |F| - n - D equals |F| to double precision. */
    r.deep = bits_of(log2(list * ((double)in->degree * (n + k - 1.0) + (n - 1.0))) - lf);

    if (r.query < total)
        total = r.query;
    if (r.ali < total)
        total = r.ali;
    if (r.deep < total)
        total = r.deep;
    r.total = total;
    /* Toy-problem figure: error 1/|F| + rho^queries * 2^-grinding. */
    double toy = -(double)in->num_queries * (double)in->log_blowup - (double)in->grinding_bits;
    r.conjectured = bits_of(toy > -lf ? toy + log2(1.0 + exp2(-lf - toy)) : -lf + log2(1.0 + exp2(toy + lf)));
    if (report)
        *report = r;
    return total;
}
