/* The simulated sensor's rendering, compiled (sim/devices/sensor_render.py says what a frame
 * is; these are its inner loops, issue 16). A frame's rendering stands for the sensor's
 * readout, and it is part of the exposure -> correction time the seam loop is held to. In
 * numpy it was some hundred and fifty calls on arrays of a few points and whole-image
 * temporaries, which a core that idles between frames runs cold: 1.2 ms a frame where back
 * to back took 0.6.
 *
 * Geometry, in the laser plane (x, z), mm:
 * in_plain_view: which points of the profile every eye (the laser's source, the camera) sees
 *                past the profile's faces (sensor_render.in_plain_view).
 * stretches:     the profile's faces cut where a shadow's edge falls, each stretch with whether
 *                it is in view (sensor_render.visible_parts, its first half).
 * rows_of:       the stripe's row in every image column, the nearest piece where two cover
 *                one (StripeRenderer._rows_of, with _densify).
 * Pixels:
 * background:    the frame's noise field, shifted by some columns, plus the arc glare of each
 *                row, saturating (np.concatenate of the two halves, then cv2.add).
 * draw_stripe:   a Gaussian line across rows at each column's centre, with its speckle, added
 *                to the image and clipped to 0..255 (_draw_stripe_numpy).
 *
 * The simulator shares no code with the controller, so this is a module of its own (not
 * cellctl's _stripe.c), built the same way: Python's buffer protocol, no numpy headers, and
 * numpy passes in sensor_render.py where it is not built. The arithmetic follows numpy's,
 * float32 where it is float32, but it is not held to it bit for bit (numpy's matrix product
 * and its float32 exp round their own way): the truth's rows agree within 1e-9 px, the pixels
 * within one gray level (tests/test_sensor_render.py holds them to it).
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

/* pixels[0..count) += add, saturating at 255. A function of its own so that the compiler
 * knows count does not change under the writes (a uint8_t may alias anything): vectorised. */
static void
add_saturating(uint8_t *pixels, Py_ssize_t count, uint8_t add)
{
    for (Py_ssize_t c = 0; c < count; c++) {
        const uint8_t sum = (uint8_t)(pixels[c] + add);
        pixels[c] = sum < add ? 255 : sum;
    }
}

/* background(out, noise, width, shift, glare): out[r, c] = noise[r, (c + shift) % width]
 * plus glare[r], saturating at 255; glare empty: no glare. out and noise: the same size. */
static PyObject *
background(PyObject *self, PyObject *args)
{
    PyObject *out_obj, *noise_obj, *glare_obj;
    Py_ssize_t width, shift;
    if (!PyArg_ParseTuple(args, "OOnnO", &out_obj, &noise_obj, &width, &shift, &glare_obj))
        return NULL;
    if (width <= 0 || shift < 0 || shift >= width) {
        PyErr_SetString(PyExc_ValueError, "background: needs 0 <= shift < width");
        return NULL;
    }
    Py_buffer out, noise, glare;
    if (get(out_obj, &out, 1, 1, width, "out") < 0)
        return NULL;
    Py_ssize_t height = out.len / width;
    if (get(noise_obj, &noise, 0, 1, width * height, "noise") < 0) {
        PyBuffer_Release(&out);
        return NULL;
    }
    if (get(glare_obj, &glare, 0, 1, 0, "glare") < 0) {
        PyBuffer_Release(&out);
        PyBuffer_Release(&noise);
        return NULL;
    }
    if (glare.len != 0 && glare.len < height) {
        PyErr_Format(PyExc_ValueError, "glare: expected %zd rows, or none", height);
        PyBuffer_Release(&out);
        PyBuffer_Release(&noise);
        PyBuffer_Release(&glare);
        return NULL;
    }
    uint8_t *image = out.buf;
    const uint8_t *field = noise.buf, *rows = glare.len ? glare.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < height; r++) {
        uint8_t *to = image + r * width;
        const uint8_t *from = field + r * width;
        memcpy(to, from + shift, (size_t)(width - shift));
        memcpy(to + width - shift, from, (size_t)shift);
        if (rows != NULL && rows[r] != 0)
            add_saturating(to, width, rows[r]);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    PyBuffer_Release(&noise);
    PyBuffer_Release(&glare);
    Py_RETURN_NONE;
}

/* draw_stripe(image, width, cols, centres, sigmas, amplitude, reach, grain, grain_start,
 * speckle): for each column cols[j] (centre row centres[j], width sigmas[j] rows), the rows
 * floor(centre) - reach .. floor(centre) + reach, clipped into the image, get
 *     pixel + amplitude * exp(-d^2 / (2 sigma^2)) * clip(1 + speckle * grain[k], 0, 2)
 * clipped to 0..255, d the row's distance from the centre, k = grain_start + i * n + j for
 * the i-th row of the column's n (grain empty, or speckle 0: no speckle). Where rows clip to
 * the image's first or last row, that row is written once, by the last of them: numpy's put
 * of one value per row after a take of them all, as the numpy pass does. */
static PyObject *
draw_stripe(PyObject *self, PyObject *args)
{
    PyObject *image_obj, *cols_obj, *centres_obj, *sigmas_obj, *grain_obj;
    Py_ssize_t width, reach, grain_start;
    double amplitude, speckle;
    if (!PyArg_ParseTuple(args, "OnOOOdnOnd", &image_obj, &width, &cols_obj, &centres_obj,
                          &sigmas_obj, &amplitude, &reach, &grain_obj, &grain_start, &speckle))
        return NULL;
    if (width <= 0 || reach < 0 || grain_start < 0) {
        PyErr_SetString(PyExc_ValueError, "draw_stripe: needs width > 0, reach >= 0");
        return NULL;
    }
    Py_buffer image, cols, centres, sigmas, grain;
    if (get(image_obj, &image, 1, 1, width, "image") < 0)
        return NULL;
    Py_ssize_t height = image.len / width;
    if (get(cols_obj, &cols, 0, 8, 0, "cols") < 0) {
        PyBuffer_Release(&image);
        return NULL;
    }
    Py_ssize_t n = cols.len / 8, rows_per_column = 2 * reach + 1;
    if (get(centres_obj, &centres, 0, 8, n, "centres") < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&cols);
        return NULL;
    }
    if (get(sigmas_obj, &sigmas, 0, 8, n, "sigmas") < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&cols);
        PyBuffer_Release(&centres);
        return NULL;
    }
    if (get(grain_obj, &grain, 0, 4, 0, "grain") < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&cols);
        PyBuffer_Release(&centres);
        PyBuffer_Release(&sigmas);
        return NULL;
    }
    int speckled = grain.len != 0 && speckle != 0.0;
    const char *bad = NULL;
    if (speckled && grain.len / 4 < grain_start + rows_per_column * n)
        bad = "grain: fewer draws than the stripe's pixels";
    const int64_t *column = cols.buf;
    for (Py_ssize_t j = 0; j < n && bad == NULL; j++)
        if (column[j] < 0 || column[j] >= width)
            bad = "cols: a column outside the image";
    if (bad != NULL) {
        PyErr_SetString(PyExc_ValueError, bad);
        PyBuffer_Release(&image);
        PyBuffer_Release(&cols);
        PyBuffer_Release(&centres);
        PyBuffer_Release(&sigmas);
        PyBuffer_Release(&grain);
        return NULL;
    }
    uint8_t *pixels = image.buf;
    const double *centre = centres.buf, *sigma = sigmas.buf;
    const float *draws = grain.buf;
    const float gain = (float)amplitude, spread = (float)speckle;
    Py_BEGIN_ALLOW_THREADS
    /* Row by row, the columns in order: the speckle's draws are read in the order they lie
     * (a stretch of a 4 MB pool, cold at every frame) and the pixels along the image's rows. */
    for (Py_ssize_t i = 0; i < rows_per_column; i++) {
        for (Py_ssize_t j = 0; j < n; j++) {
            const int64_t first = (int64_t)floor(centre[j]) - reach;
            int64_t row = first + i;
            row = row < 0 ? 0 : (row > height - 1 ? height - 1 : row);
            if (i + 1 < rows_per_column) {
                int64_t next = first + i + 1;
                next = next < 0 ? 0 : (next > height - 1 ? height - 1 : next);
                if (next == row)
                    continue; /* a later row of this column writes this pixel */
            }
            const float twice_variance = (float)(2.0 * (sigma[j] * sigma[j]));
            const float d = (float)((double)row - centre[j]);
            float intensity = expf(-(d * d) / twice_variance) * gain;
            if (speckled) {
                float g = draws[grain_start + i * n + j] * spread + 1.0f;
                intensity *= g < 0.0f ? 0.0f : (g > 2.0f ? 2.0f : g);
            }
            uint8_t *p = pixels + row * width + column[j];
            float value = (float)*p + intensity;
            value = value < 0.0f ? 0.0f : (value > 255.0f ? 255.0f : value);
            *p = (uint8_t)value;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&image);
    PyBuffer_Release(&cols);
    PyBuffer_Release(&centres);
    PyBuffer_Release(&sigmas);
    PyBuffer_Release(&grain);
    Py_RETURN_NONE;
}

/* -- geometry ------------------------------------------------------------------------- */

static double
cross(double ax, double az, double bx, double bz)
{
    return ax * bz - az * bx;
}

/* Whether every one of eyes[0..eye_count) sees the point (px, pz), facing (ox, oz): it faces
 * each eye, and the straight ray to it crosses none of the faces starts[k] -> ends[k]. */
static int
point_in_view(double px, double pz, double ox, double oz, const double *eyes, Py_ssize_t eye_count,
              const double *starts, const double *ends, Py_ssize_t face_count)
{
    for (Py_ssize_t e = 0; e < eye_count; e++)
        if (!((eyes[2 * e] - px) * ox + (eyes[2 * e + 1] - pz) * oz > 0))
            return 0;
    for (Py_ssize_t e = 0; e < eye_count; e++) {
        const double rx = eyes[2 * e] - px, rz = eyes[2 * e + 1] - pz;
        for (Py_ssize_t k = 0; k < face_count; k++) {
            const double fx = ends[2 * k] - starts[2 * k], fz = ends[2 * k + 1] - starts[2 * k + 1];
            const double qx = starts[2 * k] - px, qz = starts[2 * k + 1] - pz;
            const double denominator = cross(rx, rz, fx, fz);
            const double along_ray = cross(qx, qz, fx, fz) / denominator;
            const double along_face = cross(qx, qz, rx, rz) / denominator;
            /* The point's own face meets the ray at the point itself (along 0): no blocker. */
            if (along_ray > 1e-9 && along_ray < 1 && along_face >= 0 && along_face <= 1)
                return 0;
        }
    }
    return 1;
}

/* in_plain_view(points, outward, eyes, starts, ends, out): out[n] = 1 where every eye sees
 * points[n] (facing outward[n]) past the faces starts[k] -> ends[k], else 0. All (count, 2)
 * float64 but out (uint8). */
static PyObject *
in_plain_view(PyObject *self, PyObject *args)
{
    PyObject *objects[6];
    if (!PyArg_ParseTuple(args, "OOOOOO", &objects[0], &objects[1], &objects[2], &objects[3],
                          &objects[4], &objects[5]))
        return NULL;
    static const char *names[6] = {"points", "outward", "eyes", "starts", "ends", "out"};
    Py_buffer views[6];
    int got = 0;
    Py_ssize_t n = 0, face_count = 0;
    for (; got < 6; got++) {
        Py_ssize_t itemsize = got == 5 ? 1 : 8;
        Py_ssize_t count = got == 1 ? 2 * n : (got == 4 ? 2 * face_count : (got == 5 ? n : 0));
        if (get(objects[got], &views[got], got == 5, itemsize, count, names[got]) < 0)
            break;
        if (got == 0)
            n = views[0].len / 16;
        if (got == 3)
            face_count = views[3].len / 16;
    }
    if (got == 6) {
        const double *points = views[0].buf, *outward = views[1].buf, *eyes = views[2].buf;
        const double *starts = views[3].buf, *ends = views[4].buf;
        uint8_t *out = views[5].buf;
        Py_ssize_t eye_count = views[2].len / 16;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++)
            out[i] = (uint8_t)point_in_view(points[2 * i], points[2 * i + 1], outward[2 * i],
                                            outward[2 * i + 1], eyes, eye_count, starts, ends,
                                            face_count);
        Py_END_ALLOW_THREADS
    }
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    if (got < 6)
        return NULL;
    Py_RETURN_NONE;
}

static int
ascending(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    /* NaN (no cut) last, as numpy's sort puts it */
    if (isnan(x))
        return isnan(y) ? 0 : 1;
    if (isnan(y))
        return -1;
    return (x > y) - (x < y);
}

/* stretches(starts, ends, eyes, corners, out) -> count: each face starts[k] -> ends[k] cut
 * where a ray from an eye past a corner meets it, and each stretch between cuts, face by face
 * and along each face, as a row of out: (begin x, z, end x, z, 1 if every eye sees its middle
 * else 0). out: at least faces * (eyes * corners + 1) rows of 5 float64. */
static PyObject *
stretches(PyObject *self, PyObject *args)
{
    PyObject *objects[5];
    if (!PyArg_ParseTuple(args, "OOOOO", &objects[0], &objects[1], &objects[2], &objects[3],
                          &objects[4]))
        return NULL;
    static const char *names[5] = {"starts", "ends", "eyes", "corners", "out"};
    Py_buffer views[5];
    int got = 0;
    Py_ssize_t face_count = 0, eye_count = 0, corner_count = 0;
    for (; got < 5; got++) {
        Py_ssize_t count = 0;
        if (got == 1)
            count = 2 * face_count;
        if (got == 4)
            count = 5 * face_count * (eye_count * corner_count + 1);
        if (get(objects[got], &views[got], got == 4, 8, count, names[got]) < 0)
            break;
        Py_ssize_t points = views[got].len / 16;
        if (got == 0)
            face_count = points;
        else if (got == 2)
            eye_count = points;
        else if (got == 3)
            corner_count = points;
    }
    Py_ssize_t rows = 0;
    double *cut = NULL;
    if (got == 5) {
        cut = PyMem_RawMalloc(sizeof(double) * (size_t)(eye_count * corner_count + 2));
        if (cut == NULL)
            PyErr_NoMemory();
    }
    if (cut != NULL) {
        const double *starts = views[0].buf, *ends = views[1].buf, *eyes = views[2].buf;
        const double *corners = views[3].buf;
        double *out = views[4].buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t k = 0; k < face_count; k++) {
            const double sx = starts[2 * k], sz = starts[2 * k + 1];
            const double fx = ends[2 * k] - sx, fz = ends[2 * k + 1] - sz;
            Py_ssize_t cuts = 0;
            cut[cuts++] = 0.0;
            cut[cuts++] = 1.0;
            for (Py_ssize_t e = 0; e < eye_count; e++)
                for (Py_ssize_t m = 0; m < corner_count; m++) {
                    const double px = corners[2 * m] - eyes[2 * e];
                    const double pz = corners[2 * m + 1] - eyes[2 * e + 1];
                    /* where the ray from eye e past corner m meets the face's line */
                    const double at = cross(eyes[2 * e] - sx, eyes[2 * e + 1] - sz, px, pz) /
                                      cross(fx, fz, px, pz);
                    if (at > 0 && at < 1)
                        cut[cuts++] = at;
                }
            qsort(cut, (size_t)cuts, sizeof(double), ascending);
            for (Py_ssize_t i = 0; i + 1 < cuts; i++) {
                if (!(cut[i + 1] > cut[i]))
                    continue;
                const double middle = (cut[i] + cut[i + 1]) / 2;
                double *row = out + 5 * rows++;
                row[0] = sx + cut[i] * fx;
                row[1] = sz + cut[i] * fz;
                row[2] = sx + cut[i + 1] * fx;
                row[3] = sz + cut[i + 1] * fz;
                /* out of the material: the left of the walk from start to end */
                row[4] = point_in_view(sx + middle * fx, sz + middle * fz, -fz, fx, eyes,
                                       eye_count, starts, ends, face_count);
            }
        }
        Py_END_ALLOW_THREADS
        PyMem_RawFree(cut);
    }
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    if (cut == NULL)
        return NULL;
    return PyLong_FromSsize_t(rows);
}

typedef struct {
    double u, v, depth;
} Projected;

static int
by_column(const void *a, const void *b)
{
    const double x = ((const Projected *)a)->u, y = ((const Projected *)b)->u;
    return (x > y) - (x < y);
}

/* np.interp's value at x (within the first and last u) over points sorted by u: the last
 * point at or before x, and the line to the next. */
static double
interpolated(double x, const Projected *p, Py_ssize_t j, Py_ssize_t n, int depth)
{
    const double y0 = depth ? p[j].depth : p[j].v;
    if (j == n - 1 || p[j].u == x)
        return y0;
    const double y1 = depth ? p[j + 1].depth : p[j + 1].v;
    const double slope = (y1 - y0) / (p[j + 1].u - p[j].u);
    return slope * (x - p[j].u) + y0;
}

/* rows_of(points, bounds, steps, camera, width, height, rows): the stripe's row in each of
 * the image's width columns, NaN where none (or within 3 rows of the image's edge). Piece p is
 * points[bounds[p]:bounds[p + 1]] ((x, z), float64), sampled every steps[p] mm at most along
 * each face (0: as it is); camera: its 3x3 rotation (rows: its axes), its centre (3), focal
 * length and principal point (cx, cy), 15 float64. Where two pieces cover a column, the
 * nearer shows. */
static PyObject *
rows_of(PyObject *self, PyObject *args)
{
    PyObject *objects[5];
    Py_ssize_t width, height;
    if (!PyArg_ParseTuple(args, "OOOOnnO", &objects[0], &objects[1], &objects[2], &objects[3],
                          &width, &height, &objects[4]))
        return NULL;
    static const char *names[5] = {"points", "bounds", "steps", "camera", "rows"};
    Py_buffer views[5];
    int got = 0;
    Py_ssize_t piece_count = 0;
    for (; got < 5; got++) {
        Py_ssize_t count = got == 1 ? 1 : (got == 2 ? piece_count : (got == 3 ? 15 : 0));
        if (got == 4)
            count = width;
        if (get(objects[got], &views[got], got == 4, 8, count, names[got]) < 0)
            break;
        if (got == 1)
            piece_count = views[1].len / 8 - 1;
    }
    const char *bad = NULL;
    Py_ssize_t most = 0;
    if (got == 5) {
        const double *points = views[0].buf, *steps = views[2].buf;
        const int64_t *bounds = views[1].buf;
        Py_ssize_t total = views[0].len / 16;
        for (Py_ssize_t p = 0; p < piece_count && bad == NULL; p++) {
            if (bounds[p] < 0 || bounds[p + 1] < bounds[p] + 2 || bounds[p + 1] > total) {
                bad = "rows_of: a piece of fewer than two points, or bounds outside the points";
                break;
            }
            Py_ssize_t samples = 1;
            for (int64_t i = bounds[p]; i + 1 < bounds[p + 1]; i++) {
                if (steps[p] > 0) {
                    const double length = sqrt(
                        (points[2 * i + 2] - points[2 * i]) * (points[2 * i + 2] - points[2 * i]) +
                        (points[2 * i + 3] - points[2 * i + 1]) * (points[2 * i + 3] - points[2 * i + 1]));
                    const double parts = ceil(length / steps[p]);
                    if (!(parts < 1e6)) {
                        bad = "rows_of: a face of a piece too long, or not finite";
                        break;
                    }
                    samples += (parts < 1 ? 1 : (Py_ssize_t)parts) + 1;
                } else {
                    samples += 1;
                }
            }
            most = samples > most ? samples : most;
        }
        if (bad != NULL)
            PyErr_SetString(PyExc_ValueError, bad);
    }
    Projected *projected = NULL;
    double *depth = NULL;
    if (got == 5 && bad == NULL) {
        projected = PyMem_RawMalloc(sizeof(Projected) * (size_t)(most > 0 ? most : 1));
        depth = PyMem_RawMalloc(sizeof(double) * (size_t)width);
        if (projected == NULL || depth == NULL)
            PyErr_NoMemory();
    }
    int done = 0;
    if (projected != NULL && depth != NULL) {
        const double *points = views[0].buf, *steps = views[2].buf, *camera = views[3].buf;
        const int64_t *bounds = views[1].buf;
        const double *rotation = camera, *centre = camera + 9;
        const double focal = camera[12], cx = camera[13], cy = camera[14];
        double *rows = views[4].buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t c = 0; c < width; c++) {
            rows[c] = NAN;
            depth[c] = INFINITY;
        }
        for (Py_ssize_t p = 0; p < piece_count; p++) {
            Py_ssize_t n = 0;
            for (int64_t i = bounds[p]; i < bounds[p + 1]; i++) {
                const double ax = points[2 * i], az = points[2 * i + 1];
                Py_ssize_t samples = 1;
                double bx = ax, bz = az;
                if (i + 1 < bounds[p + 1]) {
                    bx = points[2 * i + 2];
                    bz = points[2 * i + 3];
                    if (steps[p] > 0) {
                        /* _densify: each face in equal parts, both its ends kept */
                        const double parts =
                            ceil(sqrt((bx - ax) * (bx - ax) + (bz - az) * (bz - az)) / steps[p]);
                        samples = (parts < 1 ? 1 : (Py_ssize_t)parts) + 1;
                    }
                } else if (steps[p] > 0) {
                    break; /* a densified piece's last point ended its last face */
                }
                const double step = samples > 1 ? 1.0 / (double)(samples - 1) : 0.0;
                for (Py_ssize_t s = 0; s < samples; s++) {
                    const double f = s == samples - 1 && samples > 1 ? 1.0 : (double)s * step;
                    const double d[3] = {ax + f * (bx - ax) - centre[0], 0.0 - centre[1],
                                         az + f * (bz - az) - centre[2]};
                    double pc[3];
                    for (int r = 0; r < 3; r++)
                        pc[r] = d[0] * rotation[3 * r] + d[1] * rotation[3 * r + 1] +
                                d[2] * rotation[3 * r + 2];
                    projected[n].u = focal * pc[0] / pc[2] + cx;
                    projected[n].v = focal * pc[1] / pc[2] + cy;
                    projected[n].depth = pc[2];
                    n++;
                }
            }
            qsort(projected, (size_t)n, sizeof(Projected), by_column);
            double first = ceil(projected[0].u), last = floor(projected[n - 1].u);
            if (first < 0)
                first = 0;
            if (last > (double)(width - 1))
                last = (double)(width - 1);
            Py_ssize_t j = 0;
            for (double x = first; x <= last; x += 1.0) {
                while (j + 1 < n && projected[j + 1].u <= x)
                    j++;
                const Py_ssize_t c = (Py_ssize_t)x;
                const double z = interpolated(x, projected, j, n, 1);
                if (z < depth[c]) { /* where two pieces cover a column, the nearer one shows */
                    rows[c] = interpolated(x, projected, j, n, 0);
                    depth[c] = z;
                }
            }
        }
        for (Py_ssize_t c = 0; c < width; c++)
            if (rows[c] < 3 || rows[c] > (double)(height - 4))
                rows[c] = NAN;
        Py_END_ALLOW_THREADS
        done = 1;
    }
    PyMem_RawFree(projected);
    PyMem_RawFree(depth);
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    if (!done)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"in_plain_view", in_plain_view, METH_VARARGS, "Which points every eye sees."},
    {"stretches", stretches, METH_VARARGS, "The faces cut at shadows' edges, and what shows."},
    {"rows_of", rows_of, METH_VARARGS, "The stripe's row in every column."},
    {"background", background, METH_VARARGS, "The frame's shifted noise plus its glare."},
    {"draw_stripe", draw_stripe, METH_VARARGS, "A Gaussian line with speckle, added."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sensor_render",
    "The simulated sensor's rendering, compiled (sim/devices/_sensor_render.c).", -1, methods,
};

PyMODINIT_FUNC
PyInit__sensor_render(void)
{
    return PyModule_Create(&module);
}
