/* The control message's wire format (see ctrl_msg.h). */
#include "build_config.h"
#include "ctrl_msg.h"

#include <string.h>
#include <weft/status.h>

#include "comm.h"
#include "util.h"

size_t
weft__ctrl_msg_encode(const weft__ctrl_msg_t *m, uint8_t *out)
{
    weft__put_le(out, m->magic, 4);
    weft__put_le(out + 4, m->version, 1);
    weft__put_le(out + 5, m->kind, 1);
    weft__put_le(out + 6, m->reason_len, 2);
    weft__put_le(out + 8, m->comm_id, 4);
    weft__put_le(out + 12, (uint32_t)m->origin, 4);
    weft__put_le(out + 16, (uint32_t)m->status, 4);
    memcpy(out + WEFT_CTRL_HDR_SIZE, m->reason, m->reason_len);
    return WEFT_CTRL_HDR_SIZE + m->reason_len;
}

/* The header's fields (the caller checked that it is all there). */
static void
ctrl_msg_decode(const uint8_t *in, weft__ctrl_msg_t *m)
{
    m->magic = (uint32_t)weft__get_le(in, 4);
    m->version = (unsigned)weft__get_le(in + 4, 1);
    m->kind = (unsigned)weft__get_le(in + 5, 1);
    m->reason_len = (unsigned)weft__get_le(in + 6, 2);
    m->comm_id = (uint32_t)weft__get_le(in + 8, 4);
    m->origin = (int32_t)(uint32_t)weft__get_le(in + 12, 4);
    m->status = (int32_t)(uint32_t)weft__get_le(in + 16, 4);
}

const char *
weft__ctrl_msg_parse(const uint8_t *wire, size_t bytes, int truncated,
                     int nranks, weft__ctrl_msg_t *m)
{
    if (truncated) {
        return "longer than any control message";
    }
    if (bytes < WEFT_CTRL_HDR_SIZE) {
        return "shorter than the header";
    }
    ctrl_msg_decode(wire, m);
    if (m->magic != WEFT_CTRL_MAGIC) {
        return "bad magic";
    }
    if (m->version != WEFT_CTRL_VERSION) {
        return "unknown version";
    }
    if (m->kind != WEFT_CTRL_KIND_COMM_ERROR) {
        return "unknown kind";
    }
    if (m->reason_len > WEFT_CTRL_REASON_MAX ||
        bytes != WEFT_CTRL_HDR_SIZE + m->reason_len) {
        return "length does not match its reason";
    }
    if (memchr(wire + WEFT_CTRL_HDR_SIZE, '\0', m->reason_len) != NULL) {
        return "NUL inside the reason";
    }
    if (m->comm_id > WEFT_COMM_ID_MAX) {
        return "communicator id out of range";
    }
    if (m->origin < 0 || m->origin >= nranks) {
        return "origin rank out of range";
    }
    if (m->status >= 0 || m->status <= WEFT_ERR_LAST) {
        return "status is not an error";
    }
    memcpy(m->reason, wire + WEFT_CTRL_HDR_SIZE, m->reason_len);
    m->reason[m->reason_len] = '\0';
    return NULL;
}
