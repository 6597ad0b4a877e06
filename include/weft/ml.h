/*
 * The ML-parallel modules, thin layers on the public API: data-parallel
 * gradient buckets (weft/ml_ddp.h).
 */
#ifndef WEFT_ML_H
#define WEFT_ML_H

#include <weft/ml_ddp.h>
#include <weft/ml_ring.h>
#include <weft/ml_moe.h>

#endif /* WEFT_ML_H */
