/* ann2snn C runtime: one function per layer type (docs/integer-mode.md, docs/c-export.md).
 *
 * The emitter copies the sections this model uses into snn_model.c. Tensors are
 * channels-first (C, H, W), C order; a 1-d layer is a 2-d one with H = 1. Activations
 * are act_t (int32_t; float in --float mode), weights weight_t. Every loop bound is a
 * function argument that the generated code passes as a literal constant.
 */

/* @@kernel sat_add */
/* v + i saturated to [-SNN_V_LIMIT, SNN_V_LIMIT], without ever overflowing int32
 * (|v| <= SNN_V_LIMIT holds on entry; |i| < 2^31 is proven by the exporter). */
static act_t snn_sat_add(act_t v, act_t i)
{
#if SNN_FLOAT
    return v + i;
#else
    if (i > 0 && v > SNN_V_LIMIT - i) {
        return SNN_V_LIMIT;
    }
    if (i < 0 && v < -SNN_V_LIMIT - i) {
        return -SNN_V_LIMIT;
    }
    return v + i;
#endif
}
/* @@end */

/* @@kernel if */
/* A population of integrate-and-fire neurons, one step:
 *   v <- sat(v + I);  s = [v >= theta] (multi-spike: min(v / theta, smax));
 *   reset: v <- v - theta * s (subtract) or v <- 0 where s > 0 (zero).
 * theta has one value (nth = 1) or one per channel of `inner` neurons. A membrane
 * readout population only integrates: its output s is its membrane v. */
static void snn_if(const act_t *cur, act_t *v, act_t *vpre, act_t *s, int n, int inner,
                   const act_t *theta, int nth, int reset_zero, int smax, int membrane)
{
    int i;
    for (i = 0; i < n; ++i) {
        act_t th = theta[nth == 1 ? 0 : i / inner];
        act_t x = snn_sat_add(v[i], cur[i]);
        if (vpre) {
            vpre[i] = x;
        }
        if (membrane) {
            v[i] = x;
            s[i] = x;
            continue;
        }
        if (x >= th) {
#if SNN_FLOAT
            act_t k = smax > 1 ? (act_t)(int32_t)(x / th) : 1;
#else
            act_t k = smax > 1 ? x / th : 1;
#endif
            if (k > smax) {
                k = smax;
            }
            s[i] = k;
            x = reset_zero ? 0 : x - th * k;
        } else {
            s[i] = 0;
        }
        v[i] = x;
    }
}
/* @@end */

/* @@kernel conv */
/* Convolution, event-driven: each non-zero input adds its weights to the outputs it
 * reaches. w is stored [group][c_in/groups][kh][kw][c_out/groups] so that the inner
 * loop reads consecutive weights. b: NULL, one value per channel, or a full map. */
static void snn_conv(const act_t *in, act_t *out, const weight_t *w, const bias_t *b,
                     int bias_full, int ci, int ih, int iw, int co, int oh, int ow, int kh,
                     int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups)
{
    int cig = ci / groups, cog = co / groups, osz = oh * ow;
    int c, y, x, ky, kx, o, k;
    for (o = 0; o < co; ++o) {
        for (k = 0; k < osz; ++k) {
            out[o * osz + k] = b ? (bias_full ? b[o * osz + k] : b[o]) : 0;
        }
    }
    for (c = 0; c < ci; ++c) {
        int g = c / cig, cl = c % cig;
        for (y = 0; y < ih; ++y) {
            for (x = 0; x < iw; ++x) {
                act_t v = in[(c * ih + y) * iw + x];
                if (v == 0) {
                    continue;
                }
                for (ky = 0; ky < kh; ++ky) {
                    int ty = y + ph - ky * dh;
                    if (ty < 0 || ty % sh != 0 || ty / sh >= oh) {
                        continue;
                    }
                    ty /= sh;
                    for (kx = 0; kx < kw; ++kx) {
                        int tx = x + pw - kx * dw;
                        const weight_t *wr;
                        act_t *orow;
                        if (tx < 0 || tx % sw != 0 || tx / sw >= ow) {
                            continue;
                        }
                        tx /= sw;
                        wr = w + (((long)g * cig + cl) * kh * kw + ky * kw + kx) * cog;
                        orow = out + (long)g * cog * osz + ty * ow + tx;
                        for (o = 0; o < cog; ++o) {
                            orow[(long)o * osz] += wr[o] * v;
                        }
                    }
                }
            }
        }
    }
}
/* @@end */

/* @@kernel dense */
/* Fully connected, event-driven; wt is the transposed weight [n_in][n_out]. */
static void snn_dense(const act_t *in, act_t *out, const weight_t *wt, const bias_t *b,
                      int nin, int nout)
{
    int i, o;
    for (o = 0; o < nout; ++o) {
        out[o] = b ? b[o] : 0;
    }
    for (i = 0; i < nin; ++i) {
        act_t v = in[i];
        const weight_t *row = wt + (long)i * nout;
        if (v == 0) {
            continue;
        }
        for (o = 0; o < nout; ++o) {
            out[o] += row[o] * v;
        }
    }
}
/* @@end */

/* @@kernel sumpool */
/* Average pooling as an integer sum over each window (zero padding); the 1/k is folded
 * into the next layer's weights or threshold. In --float mode it divides by k. */
static void snn_sumpool(const act_t *in, act_t *out, int c, int ih, int iw, int oh, int ow,
                        int kh, int kw, int sh, int sw, int ph, int pw)
{
    int ch, oy, ox, ky, kx;
    for (ch = 0; ch < c; ++ch) {
        for (oy = 0; oy < oh; ++oy) {
            for (ox = 0; ox < ow; ++ox) {
                act_t acc = 0;
                for (ky = 0; ky < kh; ++ky) {
                    int y = oy * sh - ph + ky;
                    if (y < 0 || y >= ih) {
                        continue;
                    }
                    for (kx = 0; kx < kw; ++kx) {
                        int x = ox * sw - pw + kx;
                        if (x >= 0 && x < iw) {
                            acc += in[(ch * ih + y) * iw + x];
                        }
                    }
                }
#if SNN_FLOAT
                acc /= (act_t)(kh * kw);
#endif
                out[(ch * oh + oy) * ow + ox] = acc;
            }
        }
    }
}
/* @@end */

/* @@kernel globalsum */
/* Global average pooling as a sum over all positions of each channel. */
static void snn_globalsum(const act_t *in, act_t *out, int c, int n)
{
    int ch, i;
    for (ch = 0; ch < c; ++ch) {
        act_t acc = 0;
        for (i = 0; i < n; ++i) {
            acc += in[ch * n + i];
        }
#if SNN_FLOAT
        acc /= (act_t)n;
#endif
        out[ch] = acc;
    }
}
/* @@end */

/* @@kernel gate */
/* Window gate: each output passes in[j] for the element j with the largest key[j] in its
 * window (the first maximum in row-major window order; positions outside the input are
 * skipped, and a window with none gives 0). Max pooling is the gate with key = in;
 * spiking max pooling gates the spikes by their running counts. */
static void snn_gate(const act_t *key, const act_t *in, act_t *out, int c, int ih, int iw,
                     int oh, int ow, int kh, int kw, int sh, int sw, int ph, int pw, int dh,
                     int dw)
{
    int ch, oy, ox, ky, kx;
    for (ch = 0; ch < c; ++ch) {
        for (oy = 0; oy < oh; ++oy) {
            for (ox = 0; ox < ow; ++ox) {
                int best = -1;
                act_t top = 0;
                for (ky = 0; ky < kh; ++ky) {
                    int y = oy * sh - ph + ky * dh;
                    if (y < 0 || y >= ih) {
                        continue;
                    }
                    for (kx = 0; kx < kw; ++kx) {
                        int x = ox * sw - pw + kx * dw;
                        int j = (ch * ih + y) * iw + x;
                        if (x < 0 || x >= iw) {
                            continue;
                        }
                        if (best < 0 || key[j] > top) {
                            best = j;
                            top = key[j];
                        }
                    }
                }
                out[(ch * oh + oy) * ow + ox] = best < 0 ? 0 : in[best];
            }
        }
    }
}
/* @@end */

/* @@kernel smp */
/* Spiking max pooling: count[i] += in[i]; each window passes the current input of the
 * element with the largest count so far (snn_gate). */
static void snn_smp(const act_t *in, act_t *out, act_t *count, int c, int ih, int iw,
                    int oh, int ow, int kh, int kw, int sh, int sw, int ph, int pw, int dh,
                    int dw)
{
    int i;
    for (i = 0; i < c * ih * iw; ++i) {
        count[i] += in[i];
    }
    snn_gate(count, in, out, c, ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw);
}
/* @@end */

/* @@kernel upsample */
/* Nearest-neighbour upsampling by integer factors. */
static void snn_upsample(const act_t *in, act_t *out, int c, int ih, int iw, int fh, int fw)
{
    int ch, y, x, oh = ih * fh, ow = iw * fw;
    for (ch = 0; ch < c; ++ch) {
        for (y = 0; y < oh; ++y) {
            for (x = 0; x < ow; ++x) {
                out[(ch * oh + y) * ow + x] = in[(ch * ih + y / fh) * iw + x / fw];
            }
        }
    }
}
/* @@end */

/* @@kernel pad */
/* Zero padding (negative top/left crop): out[c][y][x] = in[c][y - top][x - left]. */
static void snn_pad(const act_t *in, act_t *out, int c, int ih, int iw, int oh, int ow,
                    int top, int left)
{
    int ch, y, x;
    for (ch = 0; ch < c; ++ch) {
        for (y = 0; y < oh; ++y) {
            for (x = 0; x < ow; ++x) {
                int sy = y - top, sx = x - left;
                out[(ch * oh + y) * ow + x] = (sy >= 0 && sy < ih && sx >= 0 && sx < iw)
                    ? in[(ch * ih + sy) * iw + sx] : 0;
            }
        }
    }
}
/* @@end */

/* @@kernel concat */
/* One input of a concatenation: `outer` blocks of `len` values, placed at `offset`
 * within output blocks of `out_len` values. */
static void snn_concat(const act_t *in, act_t *out, int outer, int len, int out_len,
                       int offset)
{
    int o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < len; ++i) {
            out[o * out_len + offset + i] = in[o * len + i];
        }
    }
}
/* @@end */

/* @@kernel add */
/* Residual add of currents: out = a (first = 1) or out += a. */
static void snn_add(const act_t *a, act_t *out, int n, int first)
{
    int i;
    for (i = 0; i < n; ++i) {
        out[i] = first ? a[i] : out[i] + a[i];
    }
}
/* @@end */

/* @@kernel scale */
/* Elementwise product with a constant: factor index (i / inner) % nf. */
static void snn_scale(const act_t *in, act_t *out, const weight_t *f, int n, int nf,
                      int inner)
{
    int i;
    for (i = 0; i < n; ++i) {
        out[i] = in[i] * f[(i / inner) % nf];
    }
}
/* @@end */

/* @@kernel transpose */
/* Permute axes (rank <= 4): out[o0][o1][o2][o3] = in[o0*s0 + o1*s1 + o2*s2 + o3*s3]. */
static void snn_transpose(const act_t *in, act_t *out, int d0, int d1, int d2, int d3,
                          int s0, int s1, int s2, int s3)
{
    int a, b, c, d, k = 0;
    for (a = 0; a < d0; ++a) {
        for (b = 0; b < d1; ++b) {
            for (c = 0; c < d2; ++c) {
                for (d = 0; d < d3; ++d) {
                    out[k++] = in[a * s0 + b * s1 + c * s2 + d * s3];
                }
            }
        }
    }
}
/* @@end */
