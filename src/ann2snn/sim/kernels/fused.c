/* Fused neuron kernels for the float and the integer simulator (docs/design.md §5).
 *
 * Each function is one pass over memory in one OpenMP parallel region: the whole window
 * of k steps runs per block of neurons while their membranes stay in cache, instead of a
 * handful of tensor operations (each its own parallel region) per step. The arithmetic
 * is the pure-torch fallback's (sim/functional.py, sim/integer.py, sim/pooling.py),
 * operation for operation in the same precision, built with -ffp-contract=off (no fused
 * multiply-add; -fno-trapping-math only lets the compiler vectorize the selects): the
 * spikes are identical (tests/sim/test_kernels.py). Loaded with ctypes
 * by sim/kernels/native.py; nthreads comes from torch.get_num_threads(). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK 512   /* neurons whose membranes stay in L1 over the window */
#define GRAIN 4096  /* fewest neurons per thread */

static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
static int teams(int nthreads, int64_t n, int64_t grain) {
  int64_t t = (n + grain - 1) / grain;
  return (int)imax(1, imin(nthreads, t));
}

/* Float IF over k steps. cur: (k, n) or (n) if is_static; v: (n), in place; out: (k, n);
 * cnt: (n) or NULL, in place: the spike counts, each step's spikes added (exact: whole
 * numbers below 2^24, the same sums as adding the window's total).
 * Per step: v <- v*keep (if leaky); v <- v + I; then
 * mode 0: s = [v >= thr], v <- v - s*thr      1: s = [v >= thr], v <- 0 where s > 0
 * mode 2: s = clamp(floor(v/thr), 0, smax), v <- v - s*thr    3: same s, v <- 0 where s > 0
 * mode 4: membrane readout, out = v. */
#define IF_STEP(MODE, LEAKY, COUNT)                                             \
  for (int64_t i = 0; i < len; ++i) {                                           \
    float x = v[i];                                                             \
    if (LEAKY) x = x * keep;                                                    \
    x = x + c[i];                                                               \
    if (MODE == 4) {                                                            \
      o[i] = x;                                                                 \
    } else {                                                                    \
      float s;                                                                  \
      if (MODE <= 1) {                                                          \
        s = (float)(x >= thr);                                                  \
      } else {                                                                  \
        s = floorf(x / thr);                                                    \
        s = s < 0.0f ? 0.0f : (s > smax ? smax : s);                            \
      }                                                                         \
      o[i] = s;                                                                 \
      if (COUNT) n_[i] = n_[i] + s;                                             \
      if (MODE == 0) x = s > 0.0f ? x - thr : x; /* = x - s*thr for s in {0, 1} */ \
      else if (MODE == 2) x = x - s * thr;                                      \
      else x = s > 0.0f ? 0.0f : x;                                             \
    }                                                                           \
    v[i] = x;                                                                   \
  }

/* One step of one block: v (len) in place, c the current, o the output, n_ the counts
 * (NULL: none). */
#define IF_FN(MODE)                                                                     \
  static void if_step_##MODE(const float *restrict c, float *restrict v,               \
                             float *restrict o, float *restrict n_, int64_t len,       \
                             float thr, int leaky, float keep, float smax) {            \
    if (n_ != NULL) {                                                                   \
      if (leaky) {                                                                      \
        IF_STEP(MODE, 1, 1)                                                             \
      } else {                                                                          \
        IF_STEP(MODE, 0, 1)                                                             \
      }                                                                                 \
    } else if (leaky) {                                                                 \
      IF_STEP(MODE, 1, 0)                                                               \
    } else {                                                                            \
      IF_STEP(MODE, 0, 0)                                                               \
    }                                                                                   \
  }
IF_FN(0)
IF_FN(1)
IF_FN(2)
IF_FN(3)
IF_FN(4)

typedef void (*if_step_fn)(const float *restrict, float *restrict, float *restrict,
                           float *restrict, int64_t, float, int, float, float);

void if_scan_f32(const float *cur, int is_static, float *v, float *out, float *cnt, int64_t n,
                 int64_t k, float thr, int leaky, float keep, float smax, int mode,
                 int nthreads) {
  static const if_step_fn fns[5] = {if_step_0, if_step_1, if_step_2, if_step_3, if_step_4};
  const if_step_fn step = fns[mode < 0 || mode > 4 ? 4 : mode];
  int nt = teams(nthreads, n, GRAIN);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t lo = 0; lo < n; lo += BLOCK) {
    const int64_t len = imin(n - lo, BLOCK);
    for (int64_t t = 0; t < k; ++t)
      step((is_static ? cur : cur + t * n) + lo, v + lo, out + t * n + lo,
           (cnt != NULL && mode != 4) ? cnt + lo : NULL, len, thr, leaky, keep, smax);
  }
}

/* Wrapping int64 addition, as torch's integer add (signed overflow is undefined in C). */
static int64_t wrap_add(int64_t x, int64_t y) { return (int64_t)((uint64_t)x + (uint64_t)y); }
static int64_t floor_div(int64_t x, int64_t y) {
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
  return q;
}

/* Integer IF (docs/integer-mode.md): pre = clamp(v + I, -L, L); s = [pre >= th] (multi:
 * clamp(floor(pre/th), 0, s_max) where pre >= th); reset subtract or zero; a membrane
 * readout outputs pre. th: one value (nth == 1) or one per neuron (n). cnt: (n) or NULL,
 * in place: the spike counts. */
void if_scan_i64(const int64_t *cur, int is_static, int64_t *v, int64_t *out, int64_t *cnt,
                 int64_t n, int64_t k, const int64_t *th, int64_t nth, int64_t limit,
                 int64_t multi, int reset_zero, int membrane, int nthreads) {
  int nt = teams(nthreads, n, GRAIN);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t lo = 0; lo < n; lo += BLOCK) {
    const int64_t hi = imin(n, lo + BLOCK);
    for (int64_t t = 0; t < k; ++t) {
      const int64_t *c = is_static ? cur : cur + t * n;
      int64_t *o = out + t * n;
      for (int64_t i = lo; i < hi; ++i) {
        int64_t x = wrap_add(v[i], c[i]);
        x = x < -limit ? -limit : (x > limit ? limit : x);
        if (membrane) {
          o[i] = x;
          v[i] = x;
          continue;
        }
        const int64_t h = nth > 1 ? th[i] : th[0];
        int64_t s = x >= h ? 1 : 0;
        if (multi > 1 && s) s = imin(imax(floor_div(x, h), 0), multi);
        o[i] = s;
        if (cnt != NULL) cnt[i] = wrap_add(cnt[i], s);
        v[i] = reset_zero ? (s > 0 ? 0 : x) : x - h * s;
      }
    }
  }
}

/* Spiking max pooling over non-overlapping windows (kernel == stride, no padding, no
 * dilation): per step, each input's count grows by its spike and each output is the spike
 * of the input with the largest count (ties: the first in row-major window order, as max
 * pooling with indices). s: (k, B, C, H, W), cnt: (B, C, H, W) in place, out:
 * (k, B, C, OH, OW); shapes and strides (in elements) as given.
 * Where x is contiguous in blocks of q elements (channels last: q = C; planar: q = 1)
 * a row is gated with contiguous vector loads: first the row's counts (an add), then the
 * window's inputs in row-major order, compared at every position as if a window started
 * there (loads shifted by dx blocks), keeping the real window starts; otherwise (1-d
 * pooling is 2-d with one row) the strided loop runs. Each input lies in one window only, so
 * counting first and comparing after is the same as per input. */
/* The gate of one row of outputs: the kh input rows of spikes s0 (row stride srs) and
 * their counts c0 (stride crs, already updated), x contiguous in blocks of q, into o
 * (ow·q). best, spike: scratch of span = ow·kw·q. */
#define GATE_ROW(NAME, T)                                                               \
  static void NAME(const T *s0, int64_t srs, const T *c0, int64_t crs, int64_t kh,      \
                   int64_t kw, int64_t q, int64_t ow, T *restrict best,                 \
                   T *restrict spike, T *restrict o) {                                  \
    const int64_t starts = ow * kw * q - (kw - 1) * q;                                  \
    /* the gate at every i as if a window started there (contiguous loads, shifted */   \
    /* by dx blocks of q; only the real starts x*kw*q + c are kept)                 */   \
    if (kh == 2 && kw == 2) { /* 2x2: the four inputs in registers, one pass */         \
      const T *restrict sa = s0, *restrict sb = s0 + srs;                               \
      const T *restrict ca = c0, *restrict cb = c0 + crs;                               \
      _Pragma("omp simd")                                                               \
      for (int64_t i = 0; i < starts; ++i) {                                            \
        T m = ca[i], sp = sa[i];                                                        \
        int g = ca[i + q] > m;                                                          \
        m = g ? ca[i + q] : m;                                                          \
        sp = g ? sa[i + q] : sp;                                                        \
        g = cb[i] > m;                                                                  \
        m = g ? cb[i] : m;                                                              \
        sp = g ? sb[i] : sp;                                                            \
        g = cb[i + q] > m;                                                              \
        spike[i] = g ? sb[i + q] : sp;                                                  \
      }                                                                                 \
    } else {                                                                            \
      for (int64_t dy = 0; dy < kh; ++dy)                                               \
        for (int64_t dx = 0; dx < kw; ++dx) {                                           \
          const T *restrict si = s0 + dy * srs + dx * q;                                \
          const T *restrict ci = c0 + dy * crs + dx * q;                                \
          if (dy == 0 && dx == 0) {                                                     \
            _Pragma("omp simd")                                                         \
            for (int64_t i = 0; i < starts; ++i) {                                      \
              best[i] = ci[i];                                                          \
              spike[i] = si[i];                                                         \
            }                                                                           \
          } else {                                                                      \
            _Pragma("omp simd")                                                         \
            for (int64_t i = 0; i < starts; ++i) {                                      \
              const int g = ci[i] > best[i];                                            \
              best[i] = g ? ci[i] : best[i];                                            \
              spike[i] = g ? si[i] : spike[i];                                          \
            }                                                                           \
          }                                                                             \
        }                                                                               \
    }                                                                                   \
    if (q == 1) {                                                                       \
      for (int64_t x = 0; x < ow; ++x) o[x] = spike[x * kw];                            \
    } else {                                                                            \
      for (int64_t x = 0; x < ow; ++x)                                                  \
        memcpy(o + x * q, spike + x * kw * q, sizeof(T) * (size_t)q);                   \
    }                                                                                   \
  }
GATE_ROW(gate_row_f32, float)
GATE_ROW(gate_row_i64, int64_t)

#define GATE(NAME, T)                                                                   \
  static void NAME##_rows(const T *s, const int64_t *ss, T *cnt, const int64_t *cs,      \
                          T *out, const int64_t *os, const int64_t *shape, int64_t kh,   \
                          int64_t kw, int nthreads, int64_t q, int64_t planes,           \
                          const int64_t *pstride) {                                      \
    const int64_t k = shape[0], nb = shape[1], oh = shape[3], ow = shape[4],            \
                  span = ow * kw * q;                                                   \
    int nt = (int)imax(1, imin(nthreads, nb * planes));                                 \
    /* per sample and plane, the steps in order (the counts carry), rows streamed */    \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                        \
    for (int64_t w = 0; w < nb * planes; ++w) {                                         \
      const int64_t bi = w / planes, pl = w % planes;                                   \
      T *best = malloc(sizeof(T) * (size_t)span), *spike = malloc(sizeof(T) * (size_t)span); \
      for (int64_t t = 0; t < k; ++t)                                                   \
        for (int64_t y = 0; y < oh; ++y) {                                              \
          const T *s0 = s + t * ss[0] + bi * ss[1] + pl * pstride[0] + y * kh * ss[3];  \
          T *c0 = cnt + bi * cs[0] + pl * pstride[1] + y * kh * cs[2];                  \
          for (int64_t dy = 0; dy < kh; ++dy) { /* the counts, a row at a time */       \
            const T *restrict si = s0 + dy * ss[3];                                     \
            T *restrict ci = c0 + dy * cs[2];                                           \
            _Pragma("omp simd")                                                         \
            for (int64_t i = 0; i < span; ++i) ci[i] = ci[i] + si[i];                   \
          }                                                                             \
          gate_row_##T(s0, ss[3], c0, cs[2], kh, kw, q, ow, best, spike,                \
                       out + t * os[0] + bi * os[1] + pl * pstride[2] + y * os[3]);     \
        }                                                                               \
      free(best);                                                                       \
      free(spike);                                                                      \
    }                                                                                   \
  }                                                                                     \
  void NAME(const T *s, const int64_t *ss, T *cnt, const int64_t *cs, T *out,           \
            const int64_t *os, const int64_t *shape, int64_t kh, int64_t kw,            \
            int nthreads) {                                                             \
    const int64_t k = shape[0], nb = shape[1], nc = shape[2], oh = shape[3],            \
                  ow = shape[4];                                                        \
    int nt = teams(nthreads, nb * oh, 1);                                               \
    /* rows with x contiguous in blocks of q: channels last (q = the channels, one */  \
    /* plane per sample) or planar (q = 1, a plane per channel)                      */  \
    const int64_t cl[3] = {0, 0, 0}, planar[3] = {ss[2], cs[1], os[2]};                 \
    if (ss[2] == 1 && ss[4] == nc && cs[1] == 1 && cs[3] == nc && os[2] == 1 &&         \
        os[4] == nc) {                                                                  \
      NAME##_rows(s, ss, cnt, cs, out, os, shape, kh, kw, nthreads, nc, 1, cl);         \
      return;                                                                           \
    }                                                                                   \
    if (ss[4] == 1 && cs[3] == 1 && os[4] == 1) {                                       \
      NAME##_rows(s, ss, cnt, cs, out, os, shape, kh, kw, nthreads, 1, nc, planar);     \
      return;                                                                           \
    }                                                                                   \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                        \
    for (int64_t r = 0; r < nb * oh; ++r) {                                             \
      const int64_t bi = r / oh, y = r % oh;                                            \
      for (int64_t t = 0; t < k; ++t)                                                   \
        for (int64_t x = 0; x < ow; ++x)                                                \
          for (int64_t ch = 0; ch < nc; ++ch) {                                         \
            T best = 0, spike = 0;                                                      \
            int first = 1;                                                              \
            for (int64_t dy = 0; dy < kh; ++dy) {                                       \
              const int64_t iy = y * kh + dy;                                           \
              for (int64_t dx = 0; dx < kw; ++dx) {                                     \
                const int64_t ix = x * kw + dx;                                         \
                const T si = s[t * ss[0] + bi * ss[1] + ch * ss[2] + iy * ss[3] +       \
                               ix * ss[4]];                                             \
                T *ci = cnt + bi * cs[0] + ch * cs[1] + iy * cs[2] + ix * cs[3];        \
                *ci = *ci + si;                                                         \
                if (first || *ci > best) {                                              \
                  best = *ci;                                                           \
                  spike = si;                                                           \
                  first = 0;                                                            \
                }                                                                       \
              }                                                                         \
            }                                                                           \
            out[t * os[0] + bi * os[1] + ch * os[2] + y * os[3] + x * os[4]] = spike;   \
          }                                                                             \
    }                                                                                   \
  }

#define gate_row_float gate_row_f32
#define gate_row_int64_t gate_row_i64
GATE(maxpool_gate_f32, float)
GATE(maxpool_gate_i64, int64_t)

/* f where c, else 0: a mask on f's bits (vectorized; a select there made gcc 12
 * merge-mask its loads into stale registers, and a product by (float)c cost 10x) */
static inline float keep_if(float f, int c) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  b &= -(uint32_t)(c != 0);
  memcpy(&f, &b, sizeof b);
  return f;
}

/* Synaptic operations: per row r of x (rows, e), the sum over its elements of WEIGHT:
 * [x[r, i] != 0]·fan[i] (sop_rows_*: events, whatever their value), x[r, i]·fan[i] for
 * burst spike counts (sop_counted_*: each spike delivered along every synapse); in
 * double (exact for the integer fan-outs below 2^53), or in float where the caller knows
 * every row's sum is below 2^24 (sop_small_f32: events whose fan-outs sum below 2^24;
 * float32 holds those integers exactly and its vectors are twice as wide). */
#define SOP_LANES 32 /* partial sums per row, held in vector registers */
#define SOPS(NAME, T, WEIGHT, ACC)                                                      \
  void NAME(const T *x, int64_t rows, int64_t e, const float *fan, double *res,         \
            int nthreads) {                                                             \
    int nt = teams(nthreads, rows * e, 1 << 16);                                        \
    _Pragma("omp parallel for num_threads(nt) schedule(static)")                        \
    for (int64_t r = 0; r < rows; ++r) {                                                \
      const T *restrict row = x + r * e;                                                \
      /* the terms are whole numbers and every partial sum stays below 2^53 (2^24), */  \
      /* so the sum in SOP_LANES lanes is exact, the same in any order. (An omp simd */ \
      /* reduction kept its lanes on the stack: 5x slower.)                          */ \
      ACC part[SOP_LANES] = {0};                                                        \
      int64_t i0 = 0;                                                                   \
      for (; i0 + SOP_LANES <= e; i0 += SOP_LANES) {                                    \
        _Pragma("GCC unroll 32")                                                        \
        for (int l = 0; l < SOP_LANES; ++l) {                                           \
          const int64_t i = i0 + l;                                                     \
          part[l] += (ACC)(WEIGHT);                                                     \
        }                                                                               \
      }                                                                                 \
      double acc = 0.0;                                                                 \
      for (int64_t i = i0; i < e; ++i) acc += (double)(WEIGHT);                        \
      for (int l = 0; l < SOP_LANES; ++l) acc += (double)part[l];                       \
      res[r] = acc;                                                                     \
    }                                                                                   \
  }

SOPS(sop_rows_f32, float, keep_if(fan[i], row[i] != 0), double)
SOPS(sop_rows_f64, double, keep_if(fan[i], row[i] != 0), double)
SOPS(sop_rows_i64, int64_t, keep_if(fan[i], row[i] != 0), double)
SOPS(sop_counted_f32, float, (double)row[i] * fan[i], double)
SOPS(sop_counted_f64, double, (double)row[i] * fan[i], double)
SOPS(sop_counted_i64, int64_t, (double)row[i] * fan[i], double)
SOPS(sop_small_f32, float, keep_if(fan[i], row[i] != 0), float)

/* Σ over n elements of s·f, whole numbers: the SOPs of spikes s (0/1, or burst counts:
 * counted, where each spike is delivered; for 0/1 spikes s·f = [s != 0]·f) along f
 * synapses each. In 32 float lanes (four vectors) where small (the caller knows every
 * such sum is below 2^24, so float32 holds it exactly and the order does not matter),
 * else in double, in order. (An omp simd reduction with a select kept its lanes on the
 * stack, and a [s != 0] conversion cost 5x: they tripled the fused max pool's time.) */
static double sop_row(const float *restrict s, const float *restrict f, int64_t n,
                      int small) {
  double acc = 0.0;
  int64_t i0 = 0;
  if (small) {
    float part[32] = {0};
    for (; i0 + 32 <= n; i0 += 32) {
#pragma GCC unroll 32
      for (int l = 0; l < 32; ++l) part[l] += s[i0 + l] * f[i0 + l];
    }
    for (int l = 0; l < 32; ++l) acc += (double)part[l];
  }
  for (int64_t i = i0; i < n; ++i) acc += (double)s[i] * (double)f[i];
  return acc;
}

/* A float IF population and the spiking max pool that is its only reader, in one pass:
 * per sample, step and row of outputs, the kh input rows are integrated (the IF step of
 * if_scan_f32, the same arithmetic), their spikes counted (cnt) and added to the pool's
 * counts (gcnt), and gated at once; the population's spikes never leave the cache. Rows
 * below the last window are integrated and counted only. Channels-last storage: cur
 * (k, B, H, W, C) or (B, H, W, C) if is_static; v, cnt, gcnt (B, H, W, C) in place; out
 * (k, B, OH, OW, C). mode: 0-3 as in if_scan_f32 (no membrane readout). gcnt NULL: the
 * pool's counts are the population's own (both counted from zero: the caller knows), so
 * the gate reads cnt and one pass over the counts is saved. Where sops is
 * not NULL, the synaptic operations of the pool's reader are added to sops (k): the sum
 * over the pool's output of o·rfan (sop_row), rfan the reader's fan-out in the output's
 * (OH, OW, C) order, exact, as sop_rows_f32 (sop_counted_f32 for burst spikes) would
 * count them from out. (A loop order with the steps innermost, to keep a row's state in
 * L1, was measured 1.1-1.3x slower: its output rows scatter.) */
void if_pool_f32(const float *cur, int is_static, float *v, float *cnt, float *gcnt,
                 float *out, const float *rfan, double *sops, int small, int64_t nb,
                 int64_t h, int64_t w, int64_t nc, int64_t kh, int64_t kw, int64_t k,
                 float thr, int leaky, float keep, float smax, int mode, int nthreads) {
  static const if_step_fn fns[4] = {if_step_0, if_step_1, if_step_2, if_step_3};
  const if_step_fn step = fns[mode < 0 || mode > 3 ? 0 : mode];
  const int64_t oh = h / kh, ow = w / kw, row = w * nc, plane = h * row, span = ow * kw * nc;
  int nt = (int)imax(1, imin(nthreads, nb));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t bi = 0; bi < nb; ++bi) {
    float *sp = malloc(sizeof(float) * (size_t)(kh * row + 2 * span));
    float *best = sp + kh * row, *spike = best + span;
    for (int64_t t = 0; t < k; ++t) {
      const float *c = (is_static ? cur : cur + t * nb * plane) + bi * plane;
      float *vb = v + bi * plane, *cb = cnt + bi * plane;
      float *gb = gcnt != NULL ? gcnt + bi * plane : cb; /* NULL: the pool's counts are cnt */
      for (int64_t y = 0; y < oh; ++y) {
        for (int64_t dy = 0; dy < kh; ++dy) {
          const int64_t off = (y * kh + dy) * row;
          float *restrict srow = sp + dy * row;
          step(c + off, vb + off, srow, cb + off, row, thr, leaky, keep, smax);
          if (gcnt != NULL) {
            float *restrict g = gb + off;
#pragma omp simd
            for (int64_t i = 0; i < span; ++i) g[i] = g[i] + srow[i];
          }
        }
        gate_row_f32(sp, row, gb + y * kh * row, row, kh, kw, nc, ow, best, spike,
                     out + (t * nb + bi) * oh * ow * nc + y * ow * nc);
      }
      for (int64_t iy = oh * kh; iy < h; ++iy)  /* below the last window */
        step(c + iy * row, vb + iy * row, sp, cb + iy * row, row, thr, leaky, keep, smax);
      if (sops != NULL) { /* the step's whole output plane in one call */
        const double acc = sop_row(out + (t * nb + bi) * oh * ow * nc, rfan, oh * ow * nc,
                                   small);
#pragma omp atomic
        sops[t] += acc;
      }
    }
    free(sp);
  }
}

/* A float IF population and the 2x2, stride-2 average pool that is its only reader, in
 * one pass, as if_pool_f32: out = (((s00 + s01) + s10) + s11) * 0.25, the order of the
 * simulator's 2x2 pooling (sim/pooling.py), and, where sops is not NULL, the pool's
 * synaptic operations per step added to sops (k): the sum over the population's spikes
 * of s·fan (sop_row), fan in the population's (H, W, C) storage order, exact, as
 * sop_rows_f32 (burst spikes: sop_counted_f32). Channels-last storage; out (k, B, OH,
 * OW, C). */
void if_avgpool_f32(const float *cur, int is_static, float *v, float *cnt, float *out,
                    const float *fan, double *sops, int small, int64_t nb,
                    int64_t h, int64_t w, int64_t nc, int64_t k, float thr, int leaky,
                    float keep, float smax, int mode, int nthreads) {
  static const if_step_fn fns[4] = {if_step_0, if_step_1, if_step_2, if_step_3};
  const if_step_fn step = fns[mode < 0 || mode > 3 ? 0 : mode];
  const int64_t oh = h / 2, ow = w / 2, row = w * nc, plane = h * row, orow = ow * nc;
  int nt = (int)imax(1, imin(nthreads, nb));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t bi = 0; bi < nb; ++bi) {
    float *sp = malloc(sizeof(float) * (size_t)(2 * row));
    for (int64_t t = 0; t < k; ++t) {
      const float *c = (is_static ? cur : cur + t * nb * plane) + bi * plane;
      float *vb = v + bi * plane, *cb = cnt + bi * plane;
      double acc = 0.0;
      for (int64_t iy = 0; iy < h; ++iy) {
        const int64_t off = iy * row;
        float *restrict srow = sp + (iy & 1) * row;
        step(c + off, vb + off, srow, cb + off, row, thr, leaky, keep, smax);
        if (sops != NULL) acc += sop_row(srow, fan + off, row, small);
        if ((iy & 1) && iy / 2 < oh) {
          const float *restrict a = sp, *restrict b = sp + row;
          float *restrict o = out + (t * nb + bi) * oh * orow + (iy / 2) * orow;
          for (int64_t x = 0; x < ow; ++x)
            for (int64_t ch = 0; ch < nc; ++ch) {
              const int64_t i0 = 2 * x * nc + ch, i1 = i0 + nc;
              o[x * nc + ch] = (((a[i0] + a[i1]) + b[i0]) + b[i1]) * 0.25f;
            }
        }
      }
      if (sops != NULL) {
#pragma omp atomic
        sops[t] += acc;
      }
    }
    free(sp);
  }
}

/* The per-population diagnostics of n (sample, neuron) pairs in one pass (analysis/
 * layers.py, LayerAccumulator): a the normalized ANN activation, r the SNN rate (float64).
 * sums (21, added to): Σa, Σr, Σa², Σr², Σar; Σz, Σz², Σzr with z = clip(a, 0, upper);
 * then per error term total r − a, clipping z − a, quantization r* − z, remainder r − r*:
 * Σe, Σ|e|, Σe². r* = clip(floor(z·t + v0), 0, cap) / t where closed (reset by subtraction
 * without leak), else rstar[i]. membrane: the first five sums and the total term only.
 * counts (added to): [0] a > upper, [1] a >= edges[nbins] among a > 0; hist (nbins):
 * the a > 0 within [edges[0], edges[nbins]] binned as numpy.histogram bins equal bins
 * (edges = its linspace: the same index, then the same corrections at the edges).
 * Sums run in element order, so a chunk's sums are the same whatever came before. */
void diag_sums_f64(const double *a, const double *r, const double *rstar, int64_t n,
                   double upper, double t, double v0, double cap, int closed, int membrane,
                   const double *edges, int64_t nbins, double *sums, int64_t *counts,
                   int64_t *hist) {
  double s[21] = {0};
  int64_t clipped = 0, over = 0;
  const double first = edges[0], last = edges[nbins], width = last - first;
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[i], y = r[i];
    s[0] += x;
    s[1] += y;
    s[2] += x * x;
    s[3] += y * y;
    s[4] += x * y;
    double e = y - x;
    s[9] += e;
    s[10] += fabs(e);
    s[11] += e * e;
    if (x > 0) {
      over += x >= last;
      if (x >= first && x <= last) {
        int64_t j = (int64_t)(((x - first) / width) * (double)nbins); /* numpy's order */
        if (j == nbins) --j;
        if (x < edges[j]) --j;
        else if (x >= edges[j + 1] && j != nbins - 1) ++j;
        ++hist[j];
      }
    }
    if (membrane) continue;
    const double z = x < 0 ? 0.0 : (x > upper ? upper : x);
    clipped += x > upper;
    s[5] += z;
    s[6] += z * z;
    s[7] += z * y;
    double rs;
    if (closed) {
      rs = floor(z * t + v0);
      rs = (rs < 0 ? 0 : (rs > cap ? cap : rs)) / t;
    } else {
      rs = rstar[i];
    }
    e = z - x;
    s[12] += e;
    s[13] += fabs(e);
    s[14] += e * e;
    e = rs - z;
    s[15] += e;
    s[16] += fabs(e);
    s[17] += e * e;
    e = y - rs;
    s[18] += e;
    s[19] += fabs(e);
    s[20] += e * e;
  }
  for (int k = 0; k < 21; ++k) sums[k] += s[k];
  counts[0] += clipped;
  counts[1] += over;
}
