/* Small helpers every algorithm shares. */
#include "build_config.h"
#include "collectives/algo.h"

int
weft__pow2_floor(int n)
{
    int p = 1;

    while (p <= n / 2) {
        p *= 2;
    }
    return p;
}

int
weft__log2_ceil(int n)
{
    int k = 0;

    while ((1 << k) < n) {
        k++;
    }
    return k;
}

void
weft__block(size_t count, int n, int i, size_t *off_p, size_t *len_p)
{
    size_t base = count / (size_t)n, extra = count % (size_t)n;
    size_t ui = (size_t)i;

    *len_p = base + (ui < extra ? 1 : 0);
    *off_p = ui * base + (ui < extra ? ui : extra);
}

double
weft__cost_rounds(const weft__cost_t *m, double rounds, double bytes,
                  double reduced)
{
    return rounds * m->alpha + bytes * m->beta + reduced * m->gamma;
}
