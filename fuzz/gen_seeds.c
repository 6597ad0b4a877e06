/*
 * Seed inputs for the fuzz targets, made with weft's own encoders (so they
 * follow the formats as the code writes them): `make fuzz/gen_seeds &&
 * fuzz/gen_seeds DIR` writes DIR/<name>/seed-*, in each target's input
 * layout (see the comment at the top of fuzz/fuzz_<name>.c). The saved
 * corpus in fuzz/corpus/ is these seeds plus what libFuzzer found
 * (fuzz/README.md).
 */
#include "build_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bootstrap/auth.h"
#include "bootstrap/store_msg.h"
#include "collectives/select.h"
#include "collectives/tuning.h"
#include "config.h"
#include "ctrl_msg.h"
#include "wire.h"

static const char *seeds_root;

static void
seeds_write(const char *target, const char *name, const void *a, size_t alen,
            const void *b, size_t blen)
{
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", seeds_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/seed-%s", seeds_root, target, name);
    fp = fopen(path, "wb");
    if (fp == NULL || (alen > 0 && fwrite(a, 1, alen, fp) != alen) ||
        (blen > 0 && fwrite(b, 1, blen, fp) != blen) || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- store_msg ---- */

static size_t
seeds_store_encode(const weft__store_msg_t *m, uint8_t *out, size_t cap)
{
    size_t len = 0;

    if (weft__store_msg_encode(m, out, cap, &len) != WEFT_OK) {
        fprintf(stderr, "gen_seeds: cannot encode a %s frame\n",
                weft__store_msg_type_name(m->type));
        exit(1);
    }
    return len;
}

static void
seeds_store_msg(void)
{
    static const uint8_t value[] = "tcp://10.0.0.7:40123 rank 3";
    static const uint8_t ranks[] = {1, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0};
    weft__store_msg_t msgs[WEFT_STORE_MSG_EVENT + 1], *m;
    uint8_t frame[1024], stream[4096], mode;
    size_t len;
    char name[64];

    memset(msgs, 0, sizeof(msgs));
    for (int t = WEFT_STORE_MSG_PUT; t <= WEFT_STORE_MSG_EVENT; t++) {
        m = &msgs[t];
        m->type = (uint8_t)t;
        m->id = (uint32_t)t * 7;
        snprintf(m->name, sizeof(m->name), "comm0/addr/%d", t);
        m->what = WEFT_STORE_WHAT_FENCE;
        m->data = value;
        m->len = sizeof(value) - 1;
        m->event.kind = WEFT_STORE_EVENT_ABORT;
        m->event.origin = 2;
        m->event.failed_rank = 3;
        m->event.comm_id = 1;
        m->event.status = WEFT_ERR_PEER_LOST;
        snprintf(m->event.reason, sizeof(m->event.reason), "rank 3 died");
        m->status = WEFT_ERR_TIMED_OUT;
        snprintf(m->reason, sizeof(m->reason), "fence timed out");
    }
    msgs[WEFT_STORE_MSG_STATUS].what = WEFT_STORE_WHAT_ALLGATHER;
    msgs[WEFT_STORE_MSG_MISSING].data = ranks;
    msgs[WEFT_STORE_MSG_MISSING].len = sizeof(ranks);
    msgs[WEFT_STORE_MSG_MISSING].total = 5;
    stream[0] = 20; /* gathered_max 1 MiB */
    for (int t = WEFT_STORE_MSG_PUT; t <= WEFT_STORE_MSG_EVENT; t++) {
        int from_server = t >= WEFT_STORE_MSG_OK;

        if (strcmp(weft__store_msg_type_name(t), "?") == 0) { /* a gap */
            continue;
        }
        m = &msgs[t];
        len = seeds_store_encode(m, frame, sizeof(frame));
        mode = (uint8_t)(0 << 1 | from_server); /* a whole frame */
        snprintf(name, sizeof(name), "frame-%s", weft__store_msg_type_name(t));
        seeds_write("store_msg", name, &mode, 1, frame, len);
        mode = 1 << 1; /* type byte + payload */
        frame[WEFT_STORE_MSG_HDR_LEN - 1] = (uint8_t)t;
        snprintf(name, sizeof(name), "payload-%s",
                 weft__store_msg_type_name(t));
        seeds_write("store_msg", name, &mode, 1,
                    frame + WEFT_STORE_MSG_HDR_LEN - 1,
                    len - WEFT_STORE_MSG_HDR_LEN + 1);
    }
    /* two streams: every rank frame back to back, every server frame */
    for (int from_server = 0; from_server <= 1; from_server++) {
        size_t off = 1;

        for (int t = WEFT_STORE_MSG_PUT; t <= WEFT_STORE_MSG_EVENT; t++) {
            if ((t >= WEFT_STORE_MSG_OK) != from_server ||
                strcmp(weft__store_msg_type_name(t), "?") == 0) {
                continue;
            }
            off += seeds_store_encode(&msgs[t], stream + off,
                                      sizeof(stream) - off);
        }
        mode = (uint8_t)(2 << 1 | from_server);
        seeds_write("store_msg", from_server ? "stream-server" : "stream-rank",
                    &mode, 1, stream, off);
        stream[0] = 0xff; /* gathered_max SIZE_MAX: no bound */
        seeds_write("store_msg",
                    from_server ? "stream-server-unbounded"
                                : "stream-rank-unbounded",
                    &mode, 1, stream, off);
        stream[0] = 20;
    }
}

/* ---- wire ---- */

static void
seeds_wire(void)
{
    static const struct {
        const char *name;
        weft__wire_hdr_t h;
    } hdrs[] = {
        {"eager", {WEFT_WIRE_EAGER, 0, 3, 512, 0x1234, 0, 512}},
        {"eager-empty", {WEFT_WIRE_EAGER, 0, 3, 0, 7, 0, 0}},
        {"rts", {WEFT_WIRE_RTS, 0, 3, 0, 0xfeed, 42, 1u << 20}},
        {"cts", {WEFT_WIRE_CTS, 0, 3, 0, 0, 42, 1u << 20}},
        {"data", {WEFT_WIRE_DATA, 0, 3, 65536, 0, 42, 131072}},
        {"bye", {WEFT_WIRE_BYE, 0, 3, 0, 0, 0, 0}},
    };
    /* src 3, max_eager 256 KiB, max_data 1 MiB */
    static const uint8_t limits[12] = {3, 0, 0, 0, 0, 0, 4, 0, 0, 0, 16, 0};
    uint8_t buf[12 + WEFT_WIRE_HDR_LEN];

    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        memcpy(buf, limits, sizeof(limits));
        weft__wire_encode(&hdrs[i].h, buf + sizeof(limits));
        seeds_write("wire", hdrs[i].name, buf, sizeof(buf), NULL, 0);
    }
}

/* ---- tuning ---- */

static void
seeds_tuning(void)
{
    static const char example[] =
        "weft-tuning 1\n"
        "# coll      min_bytes max_bytes ranks nodes algo\n"
        "allreduce   0         32K       4     *     recursive_doubling\n"
        "allreduce   32K       inf       *     *     ring\n";
    static const char units[] = "weft-tuning 1\n"
                                "broadcast 1KiB 2MB 2 1 binomial # comment\n"
                                "\n"
                                "\tbarrier\t0\t1G\t*\t2\tdissemination\r\n";
    char text[16384];
    size_t off;

    seeds_write("tuning", "example", example, sizeof(example) - 1, NULL, 0);
    seeds_write("tuning", "units", units, sizeof(units) - 1, NULL, 0);
    /* every algorithm of every collective, as weft-tune writes them */
    off = (size_t)snprintf(text, sizeof(text), "%s\n", WEFT_TUNING_HEADER);
    for (int c = 0; c < WEFT_COLL_COUNT; c++) {
        const weft__algo_t *const *list = weft__algos((weft__coll_t)c);

        for (int i = 0; list[i] != NULL && off < sizeof(text); i++) {
            off += (size_t)snprintf(text + off, sizeof(text) - off,
                                    "%s %d %dK %d * %s\n",
                                    weft__coll_name((weft__coll_t)c), i * 4,
                                    i * 4 + 4, i + 1, list[i]->name);
        }
    }
    if (off >= sizeof(text)) {
        fprintf(stderr, "gen_seeds: tuning text too long\n");
        exit(1);
    }
    seeds_write("tuning", "every-algorithm", text, off, NULL, 0);
}

/* ---- config ---- */

static void
seeds_config(void)
{
    static const char *const samples[] = {
        "0",         "17",  " 64K ",    "1MiB",     "2g",   "1.5ms",
        "20us",      "2m",  "yes",      "off",      "info", "^tl",
        "core,boot", "all", "self,tcp", "eth0,ib0",
    };
    const weft_param_t *p;
    char text[16384], name[96];
    size_t off = 0;
    uint8_t mode[2];
    int row = 0;

    for (p = weft__config_table(); p->name != NULL; p++, row++) {
        off += (size_t)snprintf(text + off, sizeof(text) - off, "WEFT_%s=%s\n",
                                p->name, p->def);
        mode[0] = 1; /* one value */
        mode[1] = (uint8_t)row;
        snprintf(name, sizeof(name), "value-%s", p->name);
        seeds_write("config", name, mode, 2, p->def, strlen(p->def));
    }
    mode[0] = 0; /* an environment */
    seeds_write("config", "env-defaults", mode, 1, text, off);
    seeds_write("config", "env-unknown", mode, 1,
                "WEFT_TIMOUT=5s\nPATH=/bin\nWEFT_LOG_LEVEL=debug\n", 47);
    mode[0] = 2; /* a job key */
    seeds_write("config", "key-64", mode, 1,
                "000102030405060708090a0b0c0d0e0f"
                "101112131415161718191A1B1C1D1E1F",
                64);
    seeds_write("config", "key-blanks", mode, 1,
                " \t00112233445566778899aabbccddeeff\n", 35);
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        mode[0] = 1;
        mode[1] = (uint8_t)(i * 3 % (size_t)row);
        snprintf(name, sizeof(name), "sample-%zu", i);
        seeds_write("config", name, mode, 2, samples[i], strlen(samples[i]));
    }
}

/* ---- auth_hs ---- */

static void
seeds_auth_hs(void)
{
    weft__auth_hello_t h = {WEFT_AUTH_PURPOSE_STORE, 5, 8, {0}};
    weft__auth_challenge_t c = {3, {0}, {0}};
    uint8_t buf[256], chal[WEFT_AUTH_CHALLENGE_LEN];
    char name[64];

    for (int i = 0; i < WEFT_AUTH_NONCE_LEN; i++) {
        h.nonce[i] = (uint8_t)(0xa0 + i);
        c.nonce[i] = (uint8_t)(0xb0 + i);
    }
    for (int purpose = 1; purpose <= 2; purpose++) {
        h.purpose = (uint8_t)purpose;
        for (int verdict = 0; verdict <= WEFT_AUTH_REJECT_LAST; verdict++) {
            /* server, scripted, the purpose it expects, a verdict */
            buf[0] = (uint8_t)(1 | (purpose == 2 ? 4 : 0));
            weft__auth_hello_encode(&h, buf + 1);
            buf[1 + WEFT_AUTH_HELLO_LEN] = (uint8_t)verdict;
            snprintf(name, sizeof(name), "server-p%d-v%d", purpose, verdict);
            seeds_write("auth_hs", name, buf, 2 + WEFT_AUTH_HELLO_LEN, NULL, 0);
        }
        /* server, raw: a hello and a proof with a wrong MAC */
        buf[0] = (uint8_t)(purpose == 2 ? 4 : 0);
        weft__auth_hello_encode(&h, buf + 1);
        memset(c.mac, 0x5a, sizeof(c.mac));
        weft__auth_proof_encode(c.mac, buf + 1 + WEFT_AUTH_HELLO_LEN);
        snprintf(name, sizeof(name), "server-raw-p%d", purpose);
        seeds_write("auth_hs", name, buf,
                    1 + WEFT_AUTH_HELLO_LEN + WEFT_AUTH_PROOF_LEN, NULL, 0);
    }
    /* client, scripted: a challenge (its MAC made by the harness), no
     * damage to it, then each RESULT */
    weft__auth_challenge_encode(&c, chal);
    for (int verdict = 0; verdict <= WEFT_AUTH_REJECT_LAST; verdict++) {
        size_t off = 0;

        buf[off++] = 3;
        memcpy(buf + off, chal, WEFT_AUTH_CHALLENGE_LEN - WEFT_AUTH_MAC_LEN);
        off += WEFT_AUTH_CHALLENGE_LEN - WEFT_AUTH_MAC_LEN;
        memset(buf + off, 0, WEFT_AUTH_MAC_LEN);
        off += WEFT_AUTH_MAC_LEN;
        weft__auth_result_encode((uint32_t)verdict, buf + off);
        off += WEFT_AUTH_RESULT_LEN;
        snprintf(name, sizeof(name), "client-v%d", verdict);
        seeds_write("auth_hs", name, buf, off, NULL, 0);
        if (verdict == 0) { /* the same with one bit of the MAC wrong */
            buf[1 + WEFT_AUTH_CHALLENGE_LEN - WEFT_AUTH_MAC_LEN] ^= 1;
            seeds_write("auth_hs", "client-badmac", buf, off, NULL, 0);
        }
    }
    /* client, raw: a challenge whose MAC is wrong */
    buf[0] = 2;
    weft__auth_challenge_encode(&c, buf + 1);
    seeds_write("auth_hs", "client-raw", buf, 1 + WEFT_AUTH_CHALLENGE_LEN, NULL,
                0);
}

/* ---- ctrl_msg ---- */

static void
seeds_ctrl_msg(void)
{
    static const char reason[] = "rank 2 lost: the process of rank 2 has "
                                 "ended";
    weft__ctrl_msg_t m = {.magic = WEFT_CTRL_MAGIC,
                          .version = WEFT_CTRL_VERSION,
                          .kind = WEFT_CTRL_KIND_COMM_ERROR,
                          .comm_id = 3,
                          .origin = 2,
                          .status = WEFT_ERR_PEER_LOST};
    uint8_t buf[3 + WEFT_CTRL_WIRE_MAX];
    size_t n;

    buf[0] = 7; /* 8 ranks */
    buf[1] = 0;
    buf[2] = 0;
    m.reason_len = sizeof(reason) - 1;
    memcpy(m.reason, reason, m.reason_len);
    n = weft__ctrl_msg_encode(&m, buf + 3);
    seeds_write("ctrl_msg", "comm-error", buf, 3 + n, NULL, 0);
    m.reason_len = 0;
    n = weft__ctrl_msg_encode(&m, buf + 3);
    seeds_write("ctrl_msg", "no-reason", buf, 3 + n, NULL, 0);
    m.reason_len = WEFT_CTRL_REASON_MAX;
    memset(m.reason, 'x', m.reason_len);
    n = weft__ctrl_msg_encode(&m, buf + 3);
    seeds_write("ctrl_msg", "longest-reason", buf, 3 + n, NULL, 0);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (writes DIR/<target>/seed-*)\n",
                argv[0]);
        return 2;
    }
    seeds_root = argv[1];
    if (mkdir(seeds_root, 0755) != 0 && errno != EEXIST) {
        perror(seeds_root);
        return 1;
    }
    seeds_store_msg();
    seeds_wire();
    seeds_tuning();
    seeds_config();
    seeds_auth_hs();
    seeds_ctrl_msg();
    return 0;
}
