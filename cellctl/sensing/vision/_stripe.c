/* The stripe extraction's per-column work in one pass each, without the GIL
 * (cellctl/sensing/vision/stripe.py says what it computes; this is its inner loop).
 *
 * band_peaks: in a band of rows around each column's expected row, the brightest row.
 * centres:    around each column's peak row, the sub-pixel centre (the centroid above a floor)
 *             and the peak's height above the local background, or NaN where rejected.
 * fit_line:   joint detection's robust line fit of a face (cellctl/sensing/vision/joint.py,
 *             fit_line_robust): a total least squares line, stray points dropped, twice.
 * split:      where two faces meet (joint.py, best_split).
 * short_runs: the stripe's pieces too short to be a face dropped (stripe.py,
 *             _reject_short_runs): a few microseconds, so it keeps the GIL.
 *
 * Both take and fill buffers made by the caller (numpy arrays), so no numpy headers are
 * needed to build this: Python's own buffer protocol is enough. The stripe's arithmetic is
 * float32, as the numpy version's was; the sums run in column order. The line fit's is double,
 * every sum in point order and every product and sum rounded on its own (ISO C, -std=c99:
 * no fused multiply-add), as numpy's elementwise passes and its cumulative sums do it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static int
get(PyObject *object, Py_buffer *view, int writable, Py_ssize_t itemsize, Py_ssize_t count,
    const char *name)
{
    if (PyObject_GetBuffer(object, view, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->itemsize != itemsize || view->len < itemsize * count) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes", name, count,
                     itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* band_peaks(image, width, centre, half, out): out[c] = the first brightest row of rows
 * centre[c] - half .. centre[c] + half of column c (every centre kept half a band inside). */
static PyObject *
band_peaks(PyObject *self, PyObject *args)
{
    PyObject *image_obj, *centre_obj, *out_obj;
    Py_ssize_t width, half;
    if (!PyArg_ParseTuple(args, "OnOnO", &image_obj, &width, &centre_obj, &half, &out_obj))
        return NULL;
    Py_buffer image, centre, out;
    if (get(image_obj, &image, 0, 1, width, "image") < 0)
        return NULL;
    Py_ssize_t height = image.len / width;
    if (get(centre_obj, &centre, 0, 8, width, "centre") < 0) {
        PyBuffer_Release(&image);
        return NULL;
    }
    if (get(out_obj, &out, 1, 8, width, "out") < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&centre);
        return NULL;
    }
    const uint8_t *pixels = image.buf;
    const int64_t *centres = centre.buf;
    int64_t *peaks = out.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t c = 0; c < width; c++) {
        int64_t first = centres[c] - half;
        if (first < 0 || first + 2 * half >= height) {
            bad = 1;
            break;
        }
        const uint8_t *p = pixels + first * width + c;
        int best = -1;
        int64_t at = 0;
        for (Py_ssize_t k = 0; k <= 2 * half; k++, p += width) {
            if (*p > best) {
                best = *p;
                at = k;
            }
        }
        peaks[c] = first + at;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&image);
    PyBuffer_Release(&centre);
    PyBuffer_Release(&out);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a band centre lies less than half a band from an edge");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* centres(image, width, peak_rows, columns, half, floor_fraction, min_peak_height,
 *         max_line_width, out_rows, out_peak): for each i, column columns[i] around row
 * peak_rows[i] (clamped half a window inside the image, in place): out_rows[i] the centroid
 * row (NaN: rejected), out_peak[i] the peak's height above the background. */
static PyObject *
centres(PyObject *self, PyObject *args)
{
    PyObject *image_obj, *peak_obj, *columns_obj, *rows_obj, *height_obj;
    Py_ssize_t width, half, max_width;
    double floor_fraction, min_peak;
    if (!PyArg_ParseTuple(args, "OnOOnddnOO", &image_obj, &width, &peak_obj, &columns_obj,
                          &half, &floor_fraction, &min_peak, &max_width, &rows_obj, &height_obj))
        return NULL;
    if (half < 0 || half > 64) {
        PyErr_SetString(PyExc_ValueError, "window half outside 0..64");
        return NULL;
    }
    Py_buffer image, peak, columns, rows, heights;
    if (get(image_obj, &image, 0, 1, width, "image") < 0)
        return NULL;
    Py_ssize_t height = image.len / width;
    if (get(peak_obj, &peak, 1, 8, 0, "peak_rows") < 0) {
        PyBuffer_Release(&image);
        return NULL;
    }
    Py_ssize_t n = peak.len / 8;
    if (get(columns_obj, &columns, 0, 8, n, "columns") < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&peak);
        return NULL;
    }
    if (get(rows_obj, &rows, 1, 8, n, "out_rows") < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&peak);
        PyBuffer_Release(&columns);
        return NULL;
    }
    if (get(height_obj, &heights, 1, 4, n, "out_peak") < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&peak);
        PyBuffer_Release(&columns);
        PyBuffer_Release(&rows);
        return NULL;
    }
    const uint8_t *pixels = image.buf;
    int64_t *peaks = peak.buf;
    const int64_t *cols = columns.buf;
    double *out_rows = rows.buf;
    float *out_peak = heights.buf;
    const float fraction = (float)floor_fraction;
    const float min_height = (float)min_peak;
    int bad_column = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t c = cols[i];
        if (c < 0 || c >= width) {
            bad_column = 1;
            break;
        }
        int64_t p = peaks[i];
        if (p < half)
            p = half;
        if (p > height - 1 - half)
            p = height - 1 - half;
        peaks[i] = p;
        const uint8_t *top = pixels + (p - half) * width + c;
        float window[129];
        for (Py_ssize_t k = 0; k <= 2 * half; k++)
            window[k] = (float)top[k * width];
        float first = window[0], last = window[2 * half];
        float background = first < last ? first : last;
        float above = window[half] - background;
        float floor = background + fraction * above;
        float half_height = background + 0.5f * above;
        float total = 0.0f, moment = 0.0f;
        Py_ssize_t wide = 0;
        for (Py_ssize_t k = 0; k <= 2 * half; k++) {
            float weight = window[k] - floor;
            if (weight < 0.0f)
                weight = 0.0f;
            total += weight;
            moment += (float)(k - half) * weight;
            wide += window[k] > half_height;
        }
        out_peak[i] = above;
        if (above < min_height || wide > max_width || total <= 0.0f)
            out_rows[i] = NAN;
        else
            out_rows[i] = (double)p + (double)(moment / total);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&image);
    PyBuffer_Release(&peak);
    PyBuffer_Release(&columns);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&heights);
    if (bad_column) {
        PyErr_SetString(PyExc_ValueError, "a column outside the image");
        return NULL;
    }
    Py_RETURN_NONE;
}


/* The k-th smallest of values[0..n) (reordered in place): Hoare's selection. */
static double
select_kth(double *values, Py_ssize_t n, Py_ssize_t k)
{
    Py_ssize_t low = 0, high = n - 1;
    while (low < high) {
        double pivot = values[low + (high - low) / 2];
        Py_ssize_t i = low, j = high;
        while (i <= j) {
            while (values[i] < pivot)
                i++;
            while (values[j] > pivot)
                j--;
            if (i <= j) {
                double t = values[i];
                values[i] = values[j];
                values[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            high = j;
        else if (k >= i)
            low = i;
        else
            break;
    }
    return values[k];
}

/* The median of values[0..n) (n > 0; reordered in place), as joint.py's _median. */
static double
median(double *values, Py_ssize_t n)
{
    Py_ssize_t half = n / 2;
    double upper = select_kth(values, n, half);
    if (n % 2)
        return upper;
    double lower = values[0];  /* the largest of the half below */
    for (Py_ssize_t i = 1; i < half; i++)
        if (values[i] > lower)
            lower = values[i];
    return 0.5 * (lower + upper);
}

/* Total least squares line through (x, z)[0..n): centre and unit direction; distances. */
static void
fit_once(const double *x, const double *z, Py_ssize_t n, double *line, double *distance)
{
    double sx = 0.0, sz = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        sx += x[i];
        sz += z[i];
    }
    double cx = sx / (double)n, cz = sz / (double)n;
    double a = 0.0, b = 0.0, c = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double dx = x[i] - cx, dz = z[i] - cz;
        a += dx * dx;
        b += dx * dz;
        c += dz * dz;
    }
    double angle = 0.5 * atan2(2.0 * b, a - c);
    double ux = cos(angle), uz = sin(angle);
    double offset = cz * ux - cx * uz;
    for (Py_ssize_t i = 0; i < n; i++) {
        double d = (x[i] * (-uz) + z[i] * ux) - offset;
        distance[i] = fabs(d);
    }
    line[0] = cx;
    line[1] = cz;
    line[2] = ux;
    line[3] = uz;
}

/* fit_line(x, z, floor_mm, out): x, z float64 (n >= 2); out float64[6] = centre x, z,
 * direction x, z, rms, points kept. */
static PyObject *
fit_line(PyObject *self, PyObject *args)
{
    PyObject *x_obj, *z_obj, *out_obj;
    double floor_mm;
    if (!PyArg_ParseTuple(args, "OOdO", &x_obj, &z_obj, &floor_mm, &out_obj))
        return NULL;
    Py_buffer xb, zb, ob;
    if (get(x_obj, &xb, 0, 8, 0, "x") < 0)
        return NULL;
    Py_ssize_t n = xb.len / 8;
    if (n < 2) {
        PyBuffer_Release(&xb);
        PyErr_SetString(PyExc_ValueError, "x: a line needs 2 points or more");
        return NULL;
    }
    if (get(z_obj, &zb, 0, 8, n, "z") < 0) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    if (get(out_obj, &ob, 1, 8, 6, "out") < 0) {
        PyBuffer_Release(&xb);
        PyBuffer_Release(&zb);
        return NULL;
    }
    double *work = PyMem_RawMalloc(sizeof(double) * 4 * (size_t)n);
    if (work == NULL) {
        PyBuffer_Release(&xb);
        PyBuffer_Release(&zb);
        PyBuffer_Release(&ob);
        return PyErr_NoMemory();
    }
    double *x = work, *z = work + n, *distance = work + 2 * n, *scratch = work + 3 * n;
    double *line = ob.buf;
    Py_BEGIN_ALLOW_THREADS
    memcpy(x, xb.buf, sizeof(double) * (size_t)n);
    memcpy(z, zb.buf, sizeof(double) * (size_t)n);
    fit_once(x, z, n, line, distance);
    for (int round = 0; round < 2; round++) {
        memcpy(scratch, distance, sizeof(double) * (size_t)n);
        double sigma = 1.4826 * median(scratch, n);
        double limit = 3.0 * sigma > floor_mm ? 3.0 * sigma : floor_mm;
        Py_ssize_t kept = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            kept += distance[i] <= limit;
        if (kept == n || kept < 3)
            break;
        Py_ssize_t j = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (distance[i] <= limit) {
                x[j] = x[i];
                z[j] = z[i];
                j++;
            }
        }
        n = kept;
        fit_once(x, z, n, line, distance);
    }
    double squares = 0.0;
    for (Py_ssize_t i = 0; i < n; i++)
        squares += distance[i] * distance[i];
    line[4] = sqrt(squares / (double)n);
    line[5] = (double)n;
    Py_END_ALLOW_THREADS
    PyMem_RawFree(work);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&zb);
    PyBuffer_Release(&ob);
    Py_RETURN_NONE;
}

/* split(x, z, min_points): where two straight faces meet in the points (x, z)[0..n), n >=
 * 2 min_points >= 2: the k in min_points..n - min_points whose two sides' total least squares
 * residuals (the smaller eigenvalue of each side's scatter matrix, twice) sum least; the
 * first such k. From running sums in point order, as joint.py's best_split has them. */
static PyObject *
split(PyObject *self, PyObject *args)
{
    PyObject *x_obj, *z_obj;
    Py_ssize_t m;
    if (!PyArg_ParseTuple(args, "OOn", &x_obj, &z_obj, &m))
        return NULL;
    Py_buffer xb, zb;
    if (get(x_obj, &xb, 0, 8, 0, "x") < 0)
        return NULL;
    Py_ssize_t n = xb.len / 8;
    if (get(z_obj, &zb, 0, 8, n, "z") < 0) {
        PyBuffer_Release(&xb);
        return NULL;
    }
    if (m < 1 || n < 2 * m) {
        PyBuffer_Release(&xb);
        PyBuffer_Release(&zb);
        PyErr_SetString(PyExc_ValueError, "split: needs min_points >= 1 and 2 min_points points");
        return NULL;
    }
    const double *x = xb.buf, *z = zb.buf;
    Py_ssize_t best = 0;
    Py_BEGIN_ALLOW_THREADS
    double t[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
    for (Py_ssize_t i = 0; i < n; i++) {
        t[0] += x[i];
        t[1] += z[i];
        t[2] += x[i] * x[i];
        t[3] += z[i] * z[i];
        t[4] += x[i] * z[i];
    }
    double p[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
    double lowest = 0.0;
    for (Py_ssize_t i = 0; i < n - m; i++) {
        p[0] += x[i];
        p[1] += z[i];
        p[2] += x[i] * x[i];
        p[3] += z[i] * z[i];
        p[4] += x[i] * z[i];
        if (i < m - 1)
            continue;
        double sum = 0.0;
        for (int side = 0; side < 2; side++) {
            double sx, sz, sxx, szz, sxz, count;
            if (side == 0) {
                sx = p[0], sz = p[1], sxx = p[2], szz = p[3], sxz = p[4];
                count = (double)(i + 1);
            } else {
                sx = t[0] - p[0], sz = t[1] - p[1], sxx = t[2] - p[2], szz = t[3] - p[3];
                sxz = t[4] - p[4];
                count = (double)n - (double)(i + 1);
            }
            sxx = sxx - sx * sx / count;
            szz = szz - sz * sz / count;
            sxz = sxz - sx * sz / count;
            double residual = (sxx + szz) - hypot(sxx - szz, 2 * sxz);
            sum = side == 0 ? residual : sum + residual;
        }
        Py_ssize_t k = i + 1 - m;
        if (isnan(sum)) {  /* numpy's argmin: the first NaN */
            best = k;
            break;
        }
        if (k == 0 || sum < lowest) {
            lowest = sum;
            best = k;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&xb);
    PyBuffer_Release(&zb);
    return PyLong_FromSsize_t(m + best);
}

/* Each kept point's piece length: points idx[0..n) (columns) with rows rows[idx[i]]; a piece
 * ends at a hole wider than max_gap columns or a jump in row over max_jump. */
static void
piece_lengths(const int64_t *idx, const double *rows, Py_ssize_t n, int64_t max_gap,
              double max_jump, int64_t *length)
{
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 1; i <= n; i++) {
        if (i < n && !(idx[i] - idx[i - 1] > max_gap || fabs(rows[idx[i]] - rows[idx[i - 1]]) > max_jump))
            continue;
        for (Py_ssize_t j = start; j < i; j++)
            length[j] = i - start;
        start = i;
    }
}

/* short_runs(rows, max_gap, max_jump, min_run, index, scratch) -> count: stripe.py's
 * _reject_short_runs. rows (float64, one a column) has NaN where no line is; specks (pieces no
 * longer than max_gap) are set NaN first and the pieces counted again without them, then
 * pieces shorter than min_run. index receives the columns left, in order; scratch (int64, as
 * many as rows) is the caller's. */
static PyObject *
short_runs(PyObject *self, PyObject *args)
{
    PyObject *rows_obj, *index_obj, *scratch_obj;
    Py_ssize_t max_gap, min_run;
    double max_jump;
    if (!PyArg_ParseTuple(args, "OndnOO", &rows_obj, &max_gap, &max_jump, &min_run, &index_obj,
                          &scratch_obj))
        return NULL;
    Py_buffer rows_b, index_b, scratch_b;
    if (get(rows_obj, &rows_b, 1, 8, 0, "rows") < 0)
        return NULL;
    Py_ssize_t width = rows_b.len / 8;
    if (get(index_obj, &index_b, 1, 8, width, "index") < 0) {
        PyBuffer_Release(&rows_b);
        return NULL;
    }
    if (get(scratch_obj, &scratch_b, 1, 8, width, "scratch") < 0) {
        PyBuffer_Release(&rows_b);
        PyBuffer_Release(&index_b);
        return NULL;
    }
    double *rows = rows_b.buf;
    int64_t *idx = index_b.buf, *length = scratch_b.buf;
    Py_ssize_t n = 0;
    for (Py_ssize_t c = 0; c < width; c++)
        if (rows[c] == rows[c])
            idx[n++] = c;
    if (n > 0) {
        piece_lengths(idx, rows, n, max_gap, max_jump, length);
        int speck = 0;
        for (Py_ssize_t i = 0; i < n && !speck; i++)
            speck = length[i] <= max_gap;
        if (speck) {
            Py_ssize_t m = 0;
            for (Py_ssize_t i = 0; i < n; i++) {
                if (length[i] <= max_gap)
                    rows[idx[i]] = NAN;
                else
                    idx[m++] = idx[i];
            }
            n = m;
            if (n > 0)
                piece_lengths(idx, rows, n, max_gap, max_jump, length);
        }
        Py_ssize_t m = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (length[i] < min_run)
                rows[idx[i]] = NAN;
            else
                idx[m++] = idx[i];
        }
        n = m;
    }
    PyBuffer_Release(&rows_b);
    PyBuffer_Release(&index_b);
    PyBuffer_Release(&scratch_b);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"band_peaks", band_peaks, METH_VARARGS, "The brightest row of each column's band."},
    {"centres", centres, METH_VARARGS, "Sub-pixel centre rows and peak heights."},
    {"fit_line", fit_line, METH_VARARGS, "A face's robust total least squares line."},
    {"split", split, METH_VARARGS, "Where two straight faces meet."},
    {"short_runs", short_runs, METH_VARARGS, "The stripe's short pieces dropped."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_stripe", "The vision's inner loops (stripe, line fits), without the GIL.",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__stripe(void)
{
    return PyModule_Create(&module);
}
