/*
 * prover/airs/batch.c — the batch AIR (layout in prover/airs/batch.h, the
 * design and the soundness argument in docs/prover.md, "Batch AIR").
 *
 * The constraints are written once, as a macro over the arithmetic, and
 * instantiated over F_p (prover) and F_p^3 (verifier), like p2chain.c.
 */
#include "prover/airs/batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "prover/airs/p2row.h"
#include "prover/parallel.h"
#include "prover/poseidon2.h"

#define W PRV_P2ROW_W
#define D PRV_BATCH_DIGEST
#define LEAF_TAG UINT64_C(0x6c656166) /* ASCII "leaf", = IPC_LEAF_TAG */
#define BALANCE_LIMIT (UINT64_C(1) << 63)

/* ---- empty subtrees ----------------------------------------------------------- */

static prv_gl empty[PRV_BATCH_TREE_DEPTH + 1][D];
static pthread_once_t empty_once = PTHREAD_ONCE_INIT;

static void empty_init(void)
{
    prv_gl s[W] = { LEAF_TAG, 0, 0, 0, 0, 0, 0, 0 };
    prv_p2_permute8(s);
    memcpy(empty[0], s, sizeof empty[0]);
    for (unsigned l = 1; l <= PRV_BATCH_TREE_DEPTH; l++)
        prv_p2_compress(empty[l], empty[l - 1], empty[l - 1]);
}

const prv_gl *prv_batch_empty_hash(unsigned level)
{
    if (level > PRV_BATCH_TREE_DEPTH)
        level = PRV_BATCH_TREE_DEPTH;
    pthread_once(&empty_once, empty_init);
    return empty[level];
}

void prv_batch_fold_subroot(prv_gl root[D], const prv_gl sub[D])
{
    prv_gl t[D];
    prv_p2_compress(t, sub, prv_batch_empty_hash(PRV_BATCH_SUB_LEVEL));
    prv_p2_compress(root, t, prv_batch_empty_hash(PRV_BATCH_SUB_LEVEL + 1));
}

/* ---- the updates of the public data ------------------------------------------- */

static void address_words(uint32_t out[5], const uint8_t a[PRV_BATCH_ADDRESS])
{
    for (unsigned i = 0; i < 5; i++)
        out[i] = (uint32_t)a[4 * i] << 24 | (uint32_t)a[4 * i + 1] << 16 | (uint32_t)a[4 * i + 2] << 8 |
                 a[4 * i + 3];
}

/* Appends one update; `*count` is the running account count. */
static zk_err add_update(prv_batch_air_update *u, uint32_t *count, uint32_t op, uint32_t id,
                         const uint8_t addr[PRV_BATCH_ADDRESS], bool sender, uint64_t amount,
                         uint32_t nonce, zk_error_detail *err)
{
    const char *what = op == UINT32_MAX ? "the fee credit" : "operation";
    unsigned long idx = op == UINT32_MAX ? 0 : op;
    if (id >= PRV_BATCH_ID_LIMIT)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%s %lu: account id %u >= 2^30", what, idx, id);
    memset(u, 0, sizeof *u);
    u->id = id;
    u->op = op;
    address_words(u->addr, addr);
    if (sender) {
        if (id >= *count)
            return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%s %lu: sender id %u does not exist",
                                what, idx, id);
        if (amount == 0 || amount >= BALANCE_LIMIT)
            return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%s %lu: amount + fee out of range", what, idx);
        if (nonce == UINT32_MAX)
            return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%s %lu: nonce 2^32 - 1 cannot grow", what, idx);
        u->sender = 1;
        u->nonce = nonce;
        u->delta = PRV_GL_P - amount;
        return ZK_OK;
    }
    if (amount > PRV_BATCH_CREDIT_MAX)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%s %lu: credit above 2^63 - 2^32", what, idx);
    u->delta = amount;
    if (id > *count)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%s %lu: account id %u skips id %u", what, idx,
                            id, *count);
    if (id == *count) {
        if (*count == UINT32_MAX)
            return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%s %lu: account count overflows", what, idx);
        u->created = 1;
        (*count)++;
    }
    return ZK_OK;
}

zk_err prv_batch_air_updates(const prv_batch_public *pub, prv_batch_air_update **upd, uint32_t *n,
                             zk_error_detail *err)
{
    *upd = NULL;
    *n = 0;
    if (pub->nops < 1 || pub->nops > PRV_BATCH_MAX_OPS || !pub->ops)
        return zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "%u operations (1 .. %u)", pub->nops,
                            PRV_BATCH_MAX_OPS);
    prv_batch_air_update *u = malloc(((size_t)2 * pub->nops + 1) * sizeof *u);
    if (!u)
        return zk_error_set(err, ZK_ERR_NOMEM, "batch updates");
    zk_err rc = ZK_OK;
    uint32_t count = pub->old_accounts, k = 0;
    unsigned __int128 fees = 0;
    for (uint32_t i = 0; i < pub->nops && rc == ZK_OK; i++) {
        const prv_batch_op *op = &pub->ops[i];
        switch (op->kind) {
        case PRV_OP_DEPOSIT:
            if (op->fee != 0) {
                rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: a deposit with a fee", i);
                break;
            }
            if (op->amount == 0 || op->amount >= BALANCE_LIMIT) {
                rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: amount out of range", i);
                break;
            }
            rc = add_update(&u[k++], &count, i, op->to_id, op->to, false, op->amount, 0, err);
            break;
        case PRV_OP_TRANSFER:
        case PRV_OP_WITHDRAW: {
            if (op->amount == 0 || op->amount >= BALANCE_LIMIT || op->fee >= BALANCE_LIMIT ||
                op->amount + op->fee >= BALANCE_LIMIT) {
                rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: amount or fee out of range", i);
                break;
            }
            rc = add_update(&u[k++], &count, i, op->from_id, op->from, true, op->amount + op->fee,
                            op->nonce, err);
            if (rc == ZK_OK && op->kind == PRV_OP_TRANSFER)
                rc = add_update(&u[k++], &count, i, op->to_id, op->to, false, op->amount, 0, err);
            fees += op->fee;
            break;
        }
        default:
            rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "operation %u: unknown kind %u", i, op->kind);
            break;
        }
    }
    if (rc == ZK_OK && fees > 0) {
        if (fees > PRV_BATCH_CREDIT_MAX)
            rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "the fees sum above 2^63 - 2^32");
        else
            rc = add_update(&u[k++], &count, UINT32_MAX, pub->operator_id, pub->operator_addr, false,
                            (uint64_t)fees, 0, err);
    }
    if (rc == ZK_OK && count != pub->new_accounts)
        rc = zk_error_set(err, ZK_ERR_BATCH_INCONSISTENT, "the operations create %u accounts, not %u",
                          count - pub->old_accounts, pub->new_accounts - pub->old_accounts);
    if (rc != ZK_OK) {
        free(u);
        return rc;
    }
    *upd = u;
    *n = k;
    return ZK_OK;
}

unsigned prv_batch_air_log_n(uint32_t nupdates)
{
    uint64_t rows = (uint64_t)nupdates * PRV_BATCH_BLOCK_ROWS + 1;
    unsigned log_n = 5;
    while (((uint64_t)1 << log_n) < rows)
        log_n++;
    return log_n;
}

void prv_batch_air_public(prv_gl pub[PRV_BATCH_NPUBLIC], const prv_gl old_sub[D], const prv_gl new_sub[D],
                          const uint8_t pub_hash[32], uint32_t nupdates, uint32_t old_accounts,
                          uint32_t new_accounts)
{
    for (unsigned i = 0; i < D; i++) {
        pub[i] = old_sub[i];
        pub[D + i] = new_sub[i];
    }
    for (unsigned i = 0; i < 8; i++)
        pub[2 * D + i] = (uint32_t)pub_hash[4 * i] | (uint32_t)pub_hash[4 * i + 1] << 8 |
                         (uint32_t)pub_hash[4 * i + 2] << 16 | (uint32_t)pub_hash[4 * i + 3] << 24;
    pub[16] = nupdates;
    pub[17] = old_accounts;
    pub[18] = new_accounts;
}

/* ---- the AIR ------------------------------------------------------------------- */

static void batch_periodic(const prv_air *air, prv_gl *out)
{
    const prv_batch_air_stmt *st = air->ctx;
    size_t n = (size_t)1 << st->log_n;
    memset(out, 0, (size_t)PRV_BATCH_NPERIODIC * n * sizeof *out);
    prv_gl *col[PRV_BATCH_NPERIODIC];
    for (unsigned k = 0; k < PRV_BATCH_NPERIODIC; k++)
        col[k] = out + (size_t)k * n;
    for (uint32_t b = 0; b < st->nupdates; b++) {
        const prv_batch_air_update *u = &st->upd[b];
        size_t r0 = (size_t)b * PRV_BATCH_BLOCK_ROWS;
        col[PRV_BATCH_P_LEAF][r0] = 1;
        for (unsigned i = 0; i < 5; i++)
            col[PRV_BATCH_P_ADDR + i][r0] = u->addr[i];
        col[PRV_BATCH_P_CRE][r0] = u->created;
        col[PRV_BATCH_P_DELTA][r0] = u->delta;
        col[PRV_BATCH_P_NINC][r0] = u->sender;
        col[PRV_BATCH_P_NONCE][r0] = u->sender ? u->nonce : 0;
        for (unsigned j = 0; j < PRV_BATCH_SUB_LEVEL; j++) {
            unsigned bit = (u->id >> j) & 1;
            col[bit ? PRV_BATCH_P_L1 : PRV_BATCH_P_L0][r0 + j] = 1;
        }
        col[PRV_BATCH_P_END][r0 + PRV_BATCH_BLOCK_ROWS - 1] = 1;
        for (unsigned j = 0; j + 1 < PRV_BATCH_RANGE_ROWS; j++)
            col[PRV_BATCH_P_HORN][r0 + j] = 1;
        col[PRV_BATCH_P_LB][r0 + PRV_BATCH_RANGE_ROWS - 1] = 1;
    }
}

/*
 * out[0 .. PRV_BATCH_NCONSTRAINTS). cur, next: the two rows; per: the
 * periodic columns at cur. MUL is a product of two, MUL3 of three.
 */
#define BATCH_EVAL(T, ADD, SUB, MUL, MUL3, CONST, EXTERNAL, INTERNAL)                              \
    do {                                                                                           \
        const T *o = cur + PRV_BATCH_COL_OLD, *nw = cur + PRV_BATCH_COL_NEW;                       \
        const T *on = next + PRV_BATCH_COL_OLD, *nn = next + PRV_BATCH_COL_NEW;                    \
        const T *R = cur + PRV_BATCH_COL_R, *Rn = next + PRV_BATCH_COL_R;                          \
        T so[W], sn[W];                                                                            \
        unsigned k = 0;                                                                            \
        /* the two permutations (344) */                                                           \
        P2ROW_EVAL(T, ADD, SUB, MUL3, CONST, EXTERNAL, INTERNAL, o, so);                           \
        P2ROW_EVAL(T, ADD, SUB, MUL3, CONST, EXTERNAL, INTERNAL, nw, sn);                          \
        T leaf = per[PRV_BATCH_P_LEAF], l0 = per[PRV_BATCH_P_L0], l1 = per[PRV_BATCH_P_L1];        \
        T end = per[PRV_BATCH_P_END], cre = per[PRV_BATCH_P_CRE], ninc = per[PRV_BATCH_P_NINC];   \
        /* links: this row's digest is the next row's left or right half (8) */                    \
        for (unsigned i = 0; i < D; i++) {                                                         \
            out[k++] = ADD(MUL(l0, SUB(on[i], so[i])), MUL(l1, SUB(on[D + i], so[i])));            \
            out[k++] = ADD(MUL(l0, SUB(nn[i], sn[i])), MUL(l1, SUB(nn[D + i], sn[i])));            \
        }                                                                                          \
        /* the sibling half is the same in both paths (4) */                                       \
        for (unsigned i = 0; i < D; i++)                                                           \
            out[k++] = ADD(MUL(l0, SUB(on[D + i], nn[D + i])), MUL(l1, SUB(on[i], nn[i])));        \
        /* the leaf row (17) */                                                                    \
        out[k++] = MUL(leaf, SUB(o[0], CONST(LEAF_TAG)));                                          \
        out[k++] = MUL(leaf, SUB(nw[0], CONST(LEAF_TAG)));                                         \
        for (unsigned i = 0; i < 5; i++) {                                                         \
            out[k++] = SUB(MUL(leaf, nw[1 + i]), per[PRV_BATCH_P_ADDR + i]);                       \
            out[k++] = ADD(MUL(SUB(leaf, cre), SUB(o[1 + i], nw[1 + i])), MUL(cre, o[1 + i]));     \
        }                                                                                          \
        out[k++] = MUL(cre, o[6]);                                                                 \
        out[k++] = MUL(cre, o[7]);                                                                 \
        out[k++] = SUB(MUL(leaf, SUB(nw[6], o[6])), per[PRV_BATCH_P_DELTA]);                       \
        out[k++] = SUB(MUL(leaf, SUB(nw[7], o[7])), ninc);                                         \
        out[k++] = SUB(MUL(ninc, o[7]), per[PRV_BATCH_P_NONCE]);                                   \
        /* the running subroot (8) */                                                              \
        for (unsigned i = 0; i < D; i++) {                                                         \
            out[k++] = MUL(end, SUB(so[i], R[i]));                                                 \
            out[k++] = SUB(SUB(Rn[i], R[i]), MUL(end, SUB(sn[i], R[i])));                          \
        }                                                                                          \
        /* the new balance is < 2^63 (6) */                                                        \
        const T *bits = cur + PRV_BATCH_COL_BITS;                                                  \
        T acc = cur[PRV_BATCH_COL_ACC], accn = next[PRV_BATCH_COL_ACC];                            \
        for (unsigned i = 0; i < 3; i++)                                                           \
            out[k++] = MUL(bits[i], SUB(bits[i], CONST(1)));                                       \
        T v = ADD(bits[0], ADD(ADD(bits[1], bits[1]), MUL(bits[2], CONST(4))));                    \
        out[k++] = MUL(per[PRV_BATCH_P_HORN], SUB(SUB(acc, v), MUL(accn, CONST(8))));              \
        out[k++] = MUL(per[PRV_BATCH_P_LB], SUB(acc, v));                                          \
        out[k++] = MUL(leaf, SUB(acc, nw[6]));                                                     \
    } while (0)

static void batch_eval(const prv_air *air, const prv_gl *cur, const prv_gl *next, const prv_gl *per,
                       const prv_gl *pub, prv_gl *out)
{
    (void)air;
    (void)pub;
    BATCH_EVAL(prv_gl, prv_gl_add, prv_gl_sub, prv_gl_mul, prv_p2row_mul3, prv_p2row_const,
               prv_p2row_external, prv_p2row_internal);
}

static void batch_eval_ext(const prv_air *air, const prv_gl3 *cur, const prv_gl3 *next, const prv_gl3 *per,
                           const prv_gl *pub, prv_gl3 *out)
{
    (void)air;
    (void)pub;
    BATCH_EVAL(prv_gl3, prv_gl3_add, prv_gl3_sub, prv_gl3_mul, prv_p2row_mul3_ext, prv_p2row_const_ext,
               prv_p2row_external_ext, prv_p2row_internal_ext);
}

static size_t batch_boundary(const prv_air *air, unsigned log_n, const prv_gl *pub, prv_air_boundary *out)
{
    (void)air;
    uint64_t last = ((uint64_t)1 << log_n) - 1;
    for (unsigned i = 0; i < D; i++) {
        out[i] = (prv_air_boundary){ PRV_BATCH_COL_R + i, 0, pub[i] };
        out[D + i] = (prv_air_boundary){ PRV_BATCH_COL_R + i, last, pub[D + i] };
    }
    return 2 * D;
}

static int batch_shape_ok(const prv_air *air, unsigned log_n, const prv_gl *pub)
{
    const prv_batch_air_stmt *st = air->ctx;
    return log_n == st->log_n && pub[16] == st->nupdates && st->nupdates >= 1 &&
           log_n == prv_batch_air_log_n(st->nupdates);
}

void prv_batch_air_init(prv_air *air, const prv_batch_air_stmt *st)
{
    *air = (prv_air){
        .id = PRV_BATCH_AIR_ID,
        .name = "batch",
        .ncols = PRV_BATCH_NCOLS,
        .nconstraints = PRV_BATCH_NCONSTRAINTS,
        .degree = 3,
        .npublic = PRV_BATCH_NPUBLIC,
        .nperiodic = PRV_BATCH_NPERIODIC,
        .log_period = st->log_n,
        .max_boundary = 2 * D,
        .ctx = st,
        .periodic = batch_periodic,
        .eval = batch_eval,
        .eval_ext = batch_eval_ext,
        .boundary = batch_boundary,
        .shape_ok = batch_shape_ok,
    };
}

/* ---- the trace ------------------------------------------------------------------- */

struct trace_ctx {
    prv_gl *trace;
    size_t n;
    const prv_batch_air_stmt *st;
    const prv_batch_update *w;
    prv_gl (*sub_old)[D];
    prv_gl (*sub_new)[D];
};

static void set_col(struct trace_ctx *c, unsigned col, size_t row, prv_gl v)
{
    c->trace[(size_t)col * c->n + row] = v;
}

/* Block b: both paths; R, the range bits and the accumulator. */
static void trace_blocks(void *vctx, size_t begin, size_t end)
{
    struct trace_ctx *c = vctx;
    for (size_t b = begin; b < end; b++) {
        const prv_batch_air_update *u = &c->st->upd[b];
        const prv_batch_update *w = &c->w[b];
        size_t r0 = b * PRV_BATCH_BLOCK_ROWS;
        prv_gl in_o[W], in_n[W], out_o[W], out_n[W];
        uint32_t oa[5];
        address_words(oa, w->old_address);
        in_o[0] = in_n[0] = LEAF_TAG;
        for (unsigned i = 0; i < 5; i++) {
            in_o[1 + i] = oa[i];
            in_n[1 + i] = u->addr[i];
        }
        in_o[6] = prv_gl_from_u64(w->old_balance);
        in_o[7] = w->old_nonce;
        in_n[6] = prv_gl_add(in_o[6], u->delta);
        in_n[7] = prv_gl_add(in_o[7], u->sender);
        /* The range bits of the new balance: 3 per row, rows 0 .. 20. An
         * out-of-range value cannot be decomposed; its low 63 bits go in,
         * and the leaf row's ACC = balance constraint fails. */
        uint64_t nb = in_n[6];
        for (unsigned j = 0; j < PRV_BATCH_BLOCK_ROWS; j++) {
            uint64_t acc = j < PRV_BATCH_RANGE_ROWS ? (nb & (BALANCE_LIMIT - 1)) >> (3 * j) : 0;
            for (unsigned i = 0; i < 3; i++)
                set_col(c, PRV_BATCH_COL_BITS + i, r0 + j, j < PRV_BATCH_RANGE_ROWS ? (acc >> i) & 1 : 0);
            set_col(c, PRV_BATCH_COL_ACC, r0 + j, acc);
        }
        for (unsigned j = 0; j < PRV_BATCH_BLOCK_ROWS; j++) {
            size_t row = r0 + j;
            if (j > 0) {
                unsigned l = j - 1, bit = (u->id >> l) & 1;
                const prv_gl *sib = w->siblings[l];
                for (unsigned i = 0; i < D; i++) {
                    in_o[bit ? D + i : i] = out_o[i];
                    in_n[bit ? D + i : i] = out_n[i];
                    in_o[bit ? i : D + i] = sib[i];
                    in_n[bit ? i : D + i] = sib[i];
                }
            }
            prv_p2row_fill(c->trace + (size_t)PRV_BATCH_COL_OLD * c->n + row, c->n, in_o, out_o);
            prv_p2row_fill(c->trace + (size_t)PRV_BATCH_COL_NEW * c->n + row, c->n, in_n, out_n);
        }
        if (c->sub_old)
            memcpy(c->sub_old[b], out_o, D * sizeof(prv_gl));
        if (c->sub_new)
            memcpy(c->sub_new[b], out_n, D * sizeof(prv_gl));
        /* R of this block = its old subroot (the previous block's new one
         * when the witnesses chain). */
        for (unsigned j = 0; j < PRV_BATCH_BLOCK_ROWS; j++)
            for (unsigned i = 0; i < D; i++)
                set_col(c, PRV_BATCH_COL_R + i, r0 + j, out_o[i]);
    }
}

/* Padding rows: the permutation of the zero state in both paths. */
static void trace_padding(void *vctx, size_t begin, size_t end)
{
    struct trace_ctx *c = vctx;
    size_t first = (size_t)c->st->nupdates * PRV_BATCH_BLOCK_ROWS;
    prv_gl zero[W] = { 0 }, out[W];
    for (size_t row = first + begin; row < first + end; row++) {
        prv_p2row_fill(c->trace + (size_t)PRV_BATCH_COL_OLD * c->n + row, c->n, zero, out);
        prv_p2row_fill(c->trace + (size_t)PRV_BATCH_COL_NEW * c->n + row, c->n, zero, out);
        for (unsigned i = 0; i < 3; i++)
            set_col(c, PRV_BATCH_COL_BITS + i, row, 0);
        set_col(c, PRV_BATCH_COL_ACC, row, 0);
    }
}

void prv_batch_air_trace(prv_gl *trace, const prv_batch_air_stmt *st, const prv_batch_update *w,
                         prv_gl (*sub_old)[D], prv_gl (*sub_new)[D])
{
    size_t n = (size_t)1 << st->log_n;
    size_t used = (size_t)st->nupdates * PRV_BATCH_BLOCK_ROWS;
    struct trace_ctx c = { trace, n, st, w, sub_old, sub_new };
    prv_parallel_for(st->nupdates, 4, trace_blocks, &c);
    prv_parallel_for(n - used, 64, trace_padding, &c);
    /* R after the last block: the last block's new subroot, the output of
     * the new path's permutation on the block's last row. */
    prv_gl fin[W] = { 0 };
    if (used > 0) {
        for (unsigned j = 0; j < W; j++)
            fin[j] = trace[(size_t)(PRV_BATCH_COL_NEW + j) * n + used - 1];
        prv_p2_permute8(fin);
    }
    for (size_t row = used; row < n; row++)
        for (unsigned i = 0; i < D; i++)
            set_col(&c, PRV_BATCH_COL_R + i, row, fin[i]);
}
