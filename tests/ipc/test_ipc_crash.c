/* Integration tests of ipc/ with real processes: readers in other processes
 * against a busy writer, and a writer killed with SIGKILL over and over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "common/log.h"
#include "ipc_test_util.h"

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- concurrency: many readers, one writer ------------------------------------ */

#define CC_ACCOUNTS 256
#define CC_START_BALANCE 1000000u
#define CC_READERS 2
#define CC_COMMITS 1500
#define CC_MIN_VIEWS 2000

/* The nonce a record must carry for its balance: a torn record (balance of
 * one write, nonce of another) breaks the relation. */
static uint32_t cc_tag(uint64_t balance) { return (uint32_t)(balance * 2654435761u) ^ 0x5a5a5a5au; }

typedef struct reader_stats {
    uint64_t views, retries, records;
    int bad_total, bad_record;
} reader_stats;

static void reader_child(const char *dir, int out_fd, int stop_fd)
{
    ipc_reader *r = NULL;
    reader_stats st = { 0 };
    if (ipc_reader_open(&r, dir, NULL) != ZK_OK)
        _exit(20);
    uint64_t total = (uint64_t)CC_ACCOUNTS * CC_START_BALANCE;
    char c;
    bool stopping = false;
    for (uint64_t iter = 0;; iter++) {
        if ((iter & 63) == 0 && !stopping)
            stopping = read(stop_fd, &c, 1) == 1;
        if (stopping && st.views >= CC_MIN_VIEWS)
            break;
        uint64_t t, sum;
        bool torn_in_view;
        do {
            if (ipc_reader_view_begin(r, &t) != ZK_OK)
                _exit(22);
            sum = 0;
            torn_in_view = false;
            uint32_t n = ipc_reader_count(r);
            for (uint32_t i = 0; i < n; i++) {
                ipc_account a;
                ipc_reader_view_get(r, &a, i);
                sum += a.balance;
                torn_in_view |= a.nonce != cc_tag(a.balance);
            }
            if (ipc_reader_view_retry(r, t)) {
                st.retries++;
                continue;
            }
            break;
        } while (1);
        st.views++;
        if (sum != total)
            st.bad_total++;
        if (torn_in_view)
            st.bad_record++;
        /* Single records through their own seqlocks. */
        for (int k = 0; k < 16; k++) {
            ipc_account a;
            uint32_t id = (uint32_t)((iter * 16 + (uint64_t)k) % CC_ACCOUNTS);
            if (!ipc_reader_get(r, &a, id) || a.nonce != cc_tag(a.balance))
                st.bad_record++;
            st.records++;
        }
    }
    ipc_reader_close(r);
    if (write(out_fd, &st, sizeof st) != (ssize_t)sizeof st)
        _exit(21);
    _exit(0);
}

static void test_readers_see_consistent_totals(void **state)
{
    /* tmpfs data directory: fdatasync costs nothing there, so commits come
     * fast and collide with the readers as often as possible. */
    char *dir = strdup("/dev/shm/zkcar-ipc-cc-XXXXXX");
    assert_non_null(mkdtemp(dir));
    ipc_writer_options o = { .capacity = 1024, .max_group_ops = 256, .threads = 2 };
    ipc_writer *w = NULL;
    assert_int_equal(ipc_writer_open(&w, dir, &o, NULL), ZK_OK);
    uint64_t bal[CC_ACCOUNTS];
    uint8_t addr[CC_ACCOUNTS][IPC_ADDRESS_SIZE];
    for (uint32_t k = 0; k < CC_ACCOUNTS; k++) {
        taddr(addr[k], k);
        bal[k] = CC_START_BALANCE;
        assert_int_equal(ipc_writer_stage(w, NULL, addr[k], bal[k], cc_tag(bal[k])), ZK_OK);
    }
    assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);

    int res[2], stop[2];
    assert_int_equal(pipe(res), 0);
    assert_int_equal(pipe2(stop, O_NONBLOCK), 0);
    pid_t kids[CC_READERS];
    for (int i = 0; i < CC_READERS; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            close(res[0]);
            close(stop[1]);
            reader_child(dir, res[1], stop[0]);
        }
    }
    close(res[1]);
    close(stop[0]);
    uint64_t seed = 0x1234567;
    for (int c = 0; c < CC_COMMITS; c++) {
        int transfers = 1 + (int)(rng_next(&seed) % 48);
        for (int t = 0; t < transfers; t++) {
            uint32_t a = (uint32_t)(rng_next(&seed) % CC_ACCOUNTS), b = (uint32_t)(rng_next(&seed) % CC_ACCOUNTS);
            uint64_t amount = bal[a] ? rng_next(&seed) % (bal[a] + 1) : 0;
            bal[a] -= amount;
            bal[b] += amount;
            assert_int_equal(ipc_writer_stage(w, NULL, addr[a], bal[a], cc_tag(bal[a])), ZK_OK);
            assert_int_equal(ipc_writer_stage(w, NULL, addr[b], bal[b], cc_tag(bal[b])), ZK_OK);
        }
        assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
    }
    /* Readers stop once they have their views; keep writing until then. */
    assert_int_equal(write(stop[1], "ssssssss", CC_READERS), CC_READERS);
    reader_stats all = { 0 };
    int done = 0;
    fcntl(res[0], F_SETFL, O_NONBLOCK);
    while (done < CC_READERS) {
        reader_stats st;
        ssize_t n = read(res[0], &st, sizeof st);
        if (n == (ssize_t)sizeof st) {
            all.views += st.views;
            all.retries += st.retries;
            all.records += st.records;
            all.bad_total += st.bad_total;
            all.bad_record += st.bad_record;
            done++;
            continue;
        }
        assert_true(n < 0 && errno == EAGAIN);
        uint32_t a = (uint32_t)(rng_next(&seed) % CC_ACCOUNTS), b = (uint32_t)(rng_next(&seed) % CC_ACCOUNTS);
        uint64_t amount = bal[a] / 2;
        bal[a] -= amount;
        bal[b] += amount;
        assert_int_equal(ipc_writer_stage(w, NULL, addr[a], bal[a], cc_tag(bal[a])), ZK_OK);
        assert_int_equal(ipc_writer_stage(w, NULL, addr[b], bal[b], cc_tag(bal[b])), ZK_OK);
        assert_int_equal(ipc_writer_commit(w, NULL, 0), ZK_OK);
    }
    for (int i = 0; i < CC_READERS; i++) {
        int status;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    fprintf(stderr, "# %llu views (%llu retried), %llu single records\n", (unsigned long long)all.views,
            (unsigned long long)all.retries, (unsigned long long)all.records);
    assert_int_equal(all.bad_total, 0);
    assert_int_equal(all.bad_record, 0);
    assert_true(all.views >= (uint64_t)CC_READERS * CC_MIN_VIEWS);
    close(res[0]);
    close(stop[1]);
    ipc_writer_close(w);
    tdir_remove(dir);
}

/* ---- crash: SIGKILL at random moments -------------------------------------------------- */

#define CR_ACCOUNTS 300
#define CR_KILLS 220

/* The balance an account must have at a given nonce. */
static uint64_t cr_balance(uint32_t k, uint32_t nonce)
{
    uint64_t x = ((uint64_t)k << 32 | nonce) * UINT64_C(0x9e3779b97f4a7c15);
    return (x ^ (x >> 29)) & ((UINT64_C(1) << 40) - 1);
}

typedef struct ack {
    uint32_t k, nonce;
} ack;

/* Commits groups of operations forever; after each commit returns, tells
 * the parent which (account, nonce) pairs it acknowledged. */
static void crash_child(const char *dir, int ack_fd, uint64_t seed)
{
    ipc_writer_options o = { .capacity = 512, .max_group_ops = 64, .snapshot_every = 97, .threads = 2 };
    ipc_writer *w = NULL;
    if (ipc_writer_open(&w, dir, &o, NULL) != ZK_OK)
        _exit(30);
    for (;;) {
        ack acks[8];
        int n = 1 + (int)(rng_next(&seed) % 8);
        for (int i = 0; i < n; i++) {
            uint32_t k = (uint32_t)(rng_next(&seed) % CR_ACCOUNTS);
            uint8_t a[IPC_ADDRESS_SIZE];
            taddr(a, k);
            ipc_account cur;
            uint32_t nonce = ipc_writer_get(w, &cur, a) ? cur.nonce + 1 : 1;
            if (ipc_writer_stage(w, NULL, a, cr_balance(k, nonce), nonce) != ZK_OK)
                _exit(31);
            acks[i] = (ack){ k, nonce };
        }
        if (ipc_writer_commit(w, NULL, 0) != ZK_OK)
            _exit(32);
        /* One write below PIPE_BUF: atomic, so the parent never sees half. */
        if (write(ack_fd, acks, (size_t)n * sizeof acks[0]) < 0)
            _exit(33);
    }
}

static void test_sigkill_recovery(void **state)
{
    char *dir = tdir_new();
    uint32_t acked[CR_ACCOUNTS] = { 0 };
    uint64_t seed = 0xfeedface12345ULL;
    unsigned rebuilt = 0, killed_busy = 0;
    uint64_t total_acks = 0;
    zk_log_set_level(ZK_LOG_ERROR); /* recovery logs a line per kill */
    for (int iter = 0; iter < CR_KILLS; iter++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(dir, p[1], seed + (uint64_t)iter * 7919);
        }
        close(p[1]);
        /* Even iterations wait until the child is committing (so most kills
         * land among commits even on a loaded machine); odd ones may also
         * land in its recovery. */
        if (iter % 2 == 0) {
            struct pollfd pfd = { .fd = p[0], .events = POLLIN };
            assert_int_equal(poll(&pfd, 1, 10000), 1);
        }
        struct timespec ts = { 0, (long)(rng_next(&seed) % 25000) * 1000 };
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        /* Killed, not failed: any exit of its own is a bug it reported. */
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ack acks[64];
        ssize_t n;
        bool any = false;
        while ((n = read(p[0], acks, sizeof acks)) > 0) {
            assert_int_equal(n % (ssize_t)sizeof(ack), 0);
            for (size_t i = 0; i < (size_t)n / sizeof(ack); i++) {
                if (acks[i].nonce > acked[acks[i].k])
                    acked[acks[i].k] = acks[i].nonce;
                total_acks++;
            }
            any = true;
        }
        killed_busy += any;
        close(p[0]);
        if (iter % 9 == 4) {
            tregion_unlink(dir); /* a reboot: /dev/shm is gone, the disk is not */
            rebuilt++;
        }
        /* Recover in this process and check. */
        ipc_writer_options o = { .capacity = 512, .max_group_ops = 64, .snapshot_every = 97, .threads = 2 };
        ipc_writer *w = NULL;
        zk_error_detail e = { 0 };
        zk_err rc = ipc_writer_open(&w, dir, &o, &e);
        if (rc != ZK_OK)
            fprintf(stderr, "iteration %d: recovery failed: %s: %s\n", iter, zk_strerror(rc), e.text);
        assert_int_equal(rc, ZK_OK);
        ipc_reader *r = NULL;
        assert_int_equal(ipc_reader_open(&r, dir, NULL), ZK_OK);
        for (uint32_t k = 0; k < CR_ACCOUNTS; k++) {
            uint8_t a[IPC_ADDRESS_SIZE];
            taddr(a, k);
            uint32_t id;
            ipc_account acc;
            if (!ipc_reader_find(r, &id, a)) {
                assert_int_equal(acked[k], 0);
                continue;
            }
            assert_true(ipc_reader_get(r, &acc, id));
            if (acc.nonce < acked[k])
                fprintf(stderr, "iteration %d: account %u lost acknowledged nonce %u (has %u)\n", iter, k,
                        acked[k], acc.nonce);
            assert_true(acc.nonce >= acked[k]);
            assert_true(acc.balance == cr_balance(k, acc.nonce));
            acked[k] = acc.nonce; /* durable now, whether it was acknowledged or not */
        }
        prv_gl root[4], expect[4];
        ipc_writer_root(w, root);
        troot_from_reader(expect, r);
        assert_memory_equal(root, expect, sizeof root);
        ipc_info info;
        ipc_reader_info(r, &info);
        assert_memory_equal(info.root, root, sizeof root);
        ipc_reader_close(r);
        ipc_writer_close(w);
    }
    fprintf(stderr, "# %d kills (%u while acknowledging), %llu acknowledged operations, %u reboots\n",
            CR_KILLS, killed_busy, (unsigned long long)total_acks, rebuilt);
    assert_true(killed_busy >= CR_KILLS / 2);
    zk_log_set_level(ZK_LOG_INFO);
    tdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_see_consistent_totals),
        cmocka_unit_test(test_sigkill_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
