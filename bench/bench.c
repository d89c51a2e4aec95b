#include "bench/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define REPORT_MAX 64

typedef int (*bench_fn)(zkb_report *r, int argc, char **argv);


static const struct {
    const char *name;
    bench_fn fn;
    const char *what;
} benches[] = {
    { "prover", zkb_prover, "STARK prover: NTT, Poseidon2, proving and verifying (--quick: small sizes)" },
    { "state", zkb_state, "shared-memory state: reads, tree updates, durable ops, recovery (--quick: 100k accounts)" },
    { "sig", zkb_sig, "secp256k1 recovery of EIP-712 tx digests and Keccak-256 throughput (--quick)" },
    { "watcher", zkb_watcher, "L1 watcher against anvil: catch-up rate, confirm-to-deliver latency (--quick)" },
    { "ingest", zkb_ingest, "sidecar API: signed transfers over HTTP, validated and durable (--quick)" },
    { "api", zkb_api, "sidecar API: zkcar_getAccount requests/s and p99 under wrk (--quick)" },
    { "e2e", zkb_e2e, "sidecar: transfer-to-proven latency at a steady 200 tx/s with in-process provers (--quick)" },
    { "batch", zkb_batch, "batch prover: 1024 transfers among 1M accounts, prove and verify (--quick: 64 among 100k)" },
    { "bpf", zkb_bpf, "eBPF stage probes: batch proof with probes attached vs detached (root; --quick: 64 txs)" },
    { NULL, NULL, NULL }, /* keep last: the table is scanned until name == NULL */
};

struct zkb_report {
    int n;
    struct {
        const char *key;
        double num;
        char str[128];
        int is_str;
    } rows[REPORT_MAX];
};

void zkb_report_num(zkb_report *r, const char *key, double value)
{
    if (r->n >= REPORT_MAX)
        return;
    r->rows[r->n].key = key;
    r->rows[r->n].num = value;
    r->rows[r->n].is_str = 0;
    r->n++;
}

void zkb_report_str(zkb_report *r, const char *key, const char *value)
{
    if (r->n >= REPORT_MAX)
        return;
    r->rows[r->n].key = key;
    snprintf(r->rows[r->n].str, sizeof r->rows[r->n].str, "%s", value);
    r->rows[r->n].is_str = 1;
    r->n++;
}

uint64_t zkb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double zkb_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double zkb_peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* "AMD EPYC ... (2 cores)" from /proc/cpuinfo; best effort. */
static void machine_name(char *buf, size_t cap)
{
    char model[160] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    c += 2;
                    c[strcspn(c, "\n")] = '\0';
                    snprintf(model, sizeof model, "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    snprintf(buf, cap, "%s, %ld cores", model, sysconf(_SC_NPROCESSORS_ONLN));
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void usage(FILE *f)
{
    fprintf(f, "usage: zkcar bench NAME [--json] [flags]\n\nbenchmarks:\n");
    for (size_t i = 0; benches[i].name != NULL; i++)
        fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].what);
    fprintf(f, "\n--json prints one JSON object of named figures on stdout.\n");
}

int zkb_main(int argc, char **argv)
{
    if (argc < 2) { /* bad usage: one line (SPEC §1); the list is in --help */
        fprintf(stderr, "zkcar bench: missing NAME (see zkcar bench --help)\n");
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    const char *name = argv[1];
    bench_fn fn = NULL;
    for (size_t i = 0; benches[i].name != NULL; i++)
        if (strcmp(benches[i].name, name) == 0)
            fn = benches[i].fn;
    if (fn == NULL) {
        fprintf(stderr, "zkcar bench: unknown benchmark \"%s\" (see zkcar bench --help)\n", name);
        return 2;
    }
    int json = 0, nargs = 0;
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (args == NULL)
        return 1;
    args[nargs++] = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            args[nargs++] = argv[i];
    }
    zkb_report *r = calloc(1, sizeof *r);
    if (r == NULL) {
        free(args);
        return 1;
    }
    char machine[256];
    machine_name(machine, sizeof machine);
    int rc = fn(r, nargs, args);
    if (rc == 0) {
        if (json) {
            printf("{\"bench\":");
            json_string(name);
            printf(",\"machine\":");
            json_string(machine);
            for (int i = 0; i < r->n; i++) {
                printf(",");
                json_string(r->rows[i].key);
                printf(":");
                if (r->rows[i].is_str)
                    json_string(r->rows[i].str);
                else
                    printf("%.10g", r->rows[i].num);
            }
            printf("}\n");
        } else {
            printf("zkcar bench %s — %s\n", name, machine);
            for (int i = 0; i < r->n; i++) {
                if (r->rows[i].is_str)
                    printf("  %-42s %s\n", r->rows[i].key, r->rows[i].str);
                else
                    printf("  %-42s %.10g\n", r->rows[i].key, r->rows[i].num);
            }
        }
    }
    free(r);
    free(args);
    return rc;
}
