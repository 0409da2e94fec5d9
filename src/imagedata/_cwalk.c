/*
 * imagedata._cwalk: the element walk of imagedata._fastscan.parse, in C.
 *
 * The header pass of a folder of classic DICOM files spends most of its time stepping
 * from one element header to the next (a few hundred per file, most of them private).
 * This module does only that step, with exactly the rules of the pure-Python loop in
 * _fastscan.py (which stays the reference and the fallback when no compiler was found at
 * install time): it reports where the wanted elements are and which byte ranges the
 * header digest leaves out; decoding the few wanted values stays in Python.
 *
 * meta(data) -> (status, transfer syntax, media storage SOP class, pos after group 2)
 *   (_fastscan._meta; status 0, or 2/3 as below)
 *
 * walk(data, pos, explicit, values) -> (status, pos, hdr, length, cuts)
 *   status  0: pixel data element at pos (hdr: its header length, length: its value
 *              length, 0xFFFFFFFF when encapsulated)
 *           1: data end exactly between two elements   (Python: _End)
 *           2: data end inside an element               (Python: _Short)
 *           3: structure the walker does not handle     (Python: _Bad)
 *           4: an element of the abort set at pos       (Python: FALLBACK)
 *   values  the wanted attributes are decoded into this dict as _fastscan._decode does
 *           (text: latin-1, stripped of spaces and NULs, a list when it holds a
 *           backslash; US: an int or None; FD/FL: a float, or a list when not one
 *           value): standard ones under their keyword, vendor private ones under their
 *           _fastscan.private_key, found through their private creator element
 *           (_fastscan._private).  DS numbers (kind 4) are stored as text and, when
 *           every value is a plain decimal number, also as numbers under
 *           _fastscan.numbers_key(keyword) (see ds_numbers below)
 *   cuts    digest boundaries [start, end, start, end, ...] as _fastscan._cut makes them
 *           (the first entry is the pos given; the caller closes the last range)
 *
 * digest(data, cuts) -> hash(b"".join(data[a:b] for a, b in zip(it, it))), it = iter(cuts)
 *   (_fastscan._digest: the header digest of the byte ranges a walk kept)
 *
 * group_elements(data, pos, explicit, group) -> {tag: (VR or None, start, end)} or None
 *   (_fastscan._group_elements_py: the top-level elements of `group` from `pos` to the
 *   pixel data, with where their values start and end; None where pydicom might read
 *   the data set otherwise: anything walk() would not pass, an unknown VR, an undefined
 *   length other than a sequence's, a value past the data, a tag seen twice, an abort tag)
 *
 * configure(wanted, skip, groups, creators, abort) stores the tables once: wanted is a
 * sequence of (tag, keyword, kind) with kind 0 text, 1 US, 2 FD, 3 FL, 4 DS numbers
 * (text, and floats under "_num:" + keyword); skip and abort
 * iterables of tags; groups the private groups whose creators are looked up in
 * creators, a dict {(group, CREATOR): [(low byte, key, kind), ...]}.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_cwalk_bytes.h"

#if PY_VERSION_HEX < 0x030B0000
#define PyFloat_Unpack8 _PyFloat_Unpack8
#define PyFloat_Unpack4 _PyFloat_Unpack4
#endif

#define ST_PIXEL 0
#define ST_END 1
#define ST_SHORT 2
#define ST_BAD 3
#define ST_ABORT 4

#define PIXEL_TAG 0x7FE00010u
#define ITEM 0xFFFEE000u
#define ITEM_END 0xFFFEE00Du
#define SEQ_END 0xFFFEE0DDu
#define UNDEFINED 0xFFFFFFFFu
#define MAX_DEPTH 200
#define KIND_NUMBERS 4

typedef struct {
    uint32_t *v;
    Py_ssize_t n;
} TagSet;

static TagSet wanted_set, skip_set, group_set, abort_set;
static PyObject *creators; /* {(group, CREATOR): [(low, key, kind), ...]} */
/* keyword (str) and kind of each wanted tag, in the order of wanted_set.v; for DS numbers
   also the key of the floats ("_num:" + keyword), else NULL */
static PyObject **wanted_kw;
static PyObject **wanted_num;
static int *wanted_kind;

/* One bit per hash of every tag in wanted_set, skip_set and abort_set: most elements of a
   header are in none of them, and this bit tells so without three binary searches. */
static uint8_t tag_filter[1 << 13];

static inline uint32_t filter_bit(uint32_t tag) { return (tag * 2654435761u) >> 16; }

static inline int maybe_listed(uint32_t tag) {
    uint32_t h = filter_bit(tag);
    return tag_filter[h >> 3] >> (h & 7) & 1;
}

static void build_filter(void) {
    const TagSet *sets[3] = {&wanted_set, &skip_set, &abort_set};
    memset(tag_filter, 0, sizeof tag_filter);
    for (int k = 0; k < 3; k++)
        for (Py_ssize_t i = 0; i < sets[k]->n; i++) {
            uint32_t h = filter_bit(sets[k]->v[i]);
            tag_filter[h >> 3] |= (uint8_t)(1u << (h & 7));
        }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static Py_ssize_t find(const TagSet *s, uint32_t tag) {
    Py_ssize_t lo = 0, hi = s->n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (s->v[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->v[lo] == tag ? lo : -1;
}

static inline int contains(const TagSet *s, uint32_t tag) { return find(s, tag) >= 0; }

static int fill(TagSet *s, PyObject *iterable) {
    PyObject *seq = PySequence_Fast(iterable, "configure: tag sets must be iterable");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    uint32_t *v = PyMem_Malloc(sizeof(uint32_t) * (n ? n : 1));
    if (v == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long t = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(seq, i));
        if (PyErr_Occurred()) {
            PyMem_Free(v);
            Py_DECREF(seq);
            return -1;
        }
        v[i] = (uint32_t)t;
    }
    Py_DECREF(seq);
    qsort(v, (size_t)n, sizeof(uint32_t), cmp_u32);
    PyMem_Free(s->v);
    s->v = v;
    s->n = n;
    return 0;
}

typedef struct {
    uint32_t tag;
    PyObject *kw;
    int kind;
} Wanted;

static int cmp_wanted(const void *a, const void *b) {
    return cmp_u32(&((const Wanted *)a)->tag, &((const Wanted *)b)->tag);
}

static int fill_wanted(PyObject *iterable) {
    PyObject *seq = PySequence_Fast(iterable, "configure: wanted must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Wanted *w = PyMem_Calloc(n ? n : 1, sizeof(Wanted));
    if (w == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long tag;
        PyObject *kw;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "kUi", &tag, &kw, &w[i].kind)) {
            PyMem_Free(w);
            Py_DECREF(seq);
            return -1;
        }
        w[i].tag = (uint32_t)tag;
        w[i].kw = kw;
    }
    qsort(w, (size_t)n, sizeof(Wanted), cmp_wanted);
    Py_ssize_t made = 0; /* keywords (and numbers' keys) referenced so far */
    uint32_t *v = PyMem_Malloc(sizeof(uint32_t) * (n ? n : 1));
    PyObject **kws = PyMem_Malloc(sizeof(PyObject *) * (n ? n : 1));
    PyObject **nums = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    int *kinds = PyMem_Malloc(sizeof(int) * (n ? n : 1));
    if (v == NULL || kws == NULL || nums == NULL || kinds == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        v[i] = w[i].tag;
        kws[i] = w[i].kw;
        Py_INCREF(kws[i]);
        made = i + 1;
        kinds[i] = w[i].kind;
        if (kinds[i] == KIND_NUMBERS && (nums[i] = PyUnicode_FromFormat("_num:%U", kws[i])) == NULL)
            goto fail;
    }
    PyMem_Free(w);
    Py_DECREF(seq);
    for (Py_ssize_t i = 0; i < wanted_set.n; i++) {
        Py_DECREF(wanted_kw[i]);
        Py_XDECREF(wanted_num[i]);
    }
    PyMem_Free(wanted_set.v);
    PyMem_Free(wanted_kw);
    PyMem_Free(wanted_num);
    PyMem_Free(wanted_kind);
    wanted_set.v = v;
    wanted_set.n = n;
    wanted_kw = kws;
    wanted_num = nums;
    wanted_kind = kinds;
    return 0;
fail:
    for (Py_ssize_t j = 0; j < made; j++) {
        Py_DECREF(kws[j]);
        Py_XDECREF(nums[j]);
    }
    PyMem_Free(v);
    PyMem_Free(kws);
    PyMem_Free(nums);
    PyMem_Free(kinds);
    PyMem_Free(w);
    Py_DECREF(seq);
    return -1;
}

/* A wanted private element of this file (its creator was seen): key borrowed from creators */
typedef struct {
    uint32_t tag;
    PyObject *key;
    int kind;
} Private;

typedef struct {
    const uint8_t *d;
    Py_ssize_t len;
    Py_ssize_t *cuts;
    Py_ssize_t ncuts, capcuts;
    Private *priv;
    Py_ssize_t npriv, cappriv;
    PyObject *values;
} Walk;

typedef struct {
    uint32_t tag;
    int vr; /* two VR bytes (first in the low byte), -1 when implicit */
    Py_ssize_t hdr;
    uint32_t length;
} Elem;

static inline int is_alpha(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* _fastscan._element: 0, or a status */
static int element(const Walk *w, Py_ssize_t pos, int explicit, Elem *e) {
    if (pos + 8 > w->len)
        return pos == w->len ? ST_END : ST_SHORT;
    const uint8_t *p = w->d + pos;
    uint16_t group = u16(p), el = u16(p + 2);
    e->tag = (uint32_t)group << 16 | el;
    if (explicit && group != 0xFFFE) {
        uint8_t a = p[4], b = p[5];
        e->vr = a | (b << 8);
        if (is_long_vr(a, b)) {
            if (pos + 12 > w->len)
                return ST_SHORT;
            e->hdr = 12;
            e->length = u32(p + 8);
            return 0;
        }
        if (!is_alpha(a) || !is_alpha(b))
            return ST_BAD;
        e->hdr = 8;
        e->length = u16(p + 6);
        return 0;
    }
    e->vr = -1;
    e->hdr = 8;
    e->length = u32(p + 4);
    return 0;
}

static int skip_dataset(const Walk *w, Py_ssize_t *pos, int explicit, int depth);

/* _fastscan._skip_sequence */
static int skip_sequence(const Walk *w, Py_ssize_t *pos, int explicit, int depth) {
    if (depth > MAX_DEPTH)
        return ST_BAD;
    for (;;) {
        Elem e;
        int st = element(w, *pos, 0, &e);
        if (st)
            return st;
        *pos += e.hdr;
        if (e.tag == SEQ_END)
            return 0;
        if (e.tag != ITEM)
            return ST_BAD;
        if (e.length == UNDEFINED) {
            st = skip_dataset(w, pos, explicit, depth + 1);
            if (st)
                return st;
        } else {
            *pos += e.length;
        }
    }
}

/* _fastscan._skip_dataset */
static int skip_dataset(const Walk *w, Py_ssize_t *pos, int explicit, int depth) {
    if (depth > MAX_DEPTH)
        return ST_BAD;
    for (;;) {
        Elem e;
        int st = element(w, *pos, explicit, &e);
        if (st)
            return st;
        *pos += e.hdr;
        if (e.tag == ITEM_END)
            return 0;
        if (e.length == UNDEFINED) {
            int vr_un = e.vr == ('U' | ('N' << 8));
            st = skip_sequence(w, pos, explicit && !vr_un, depth + 1);
            if (st)
                return st;
        } else {
            *pos += e.length;
        }
    }
}

/* _fastscan._cut */
static int cut(Walk *w, Py_ssize_t start, Py_ssize_t end) {
    if (w->cuts[w->ncuts - 1] == start) {
        w->cuts[w->ncuts - 1] = end;
        return 0;
    }
    if (w->ncuts + 2 > w->capcuts) {
        Py_ssize_t cap = w->capcuts * 2;
        Py_ssize_t *c = PyMem_Realloc(w->cuts, sizeof(Py_ssize_t) * cap);
        if (c == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        w->cuts = c;
        w->capcuts = cap;
    }
    w->cuts[w->ncuts++] = start;
    w->cuts[w->ncuts++] = end;
    return 0;
}

/* _fastscan._decode of text: latin-1, stripped of spaces and NULs, split at backslashes */
static PyObject *decode_text(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t a = 0, b = n;
    while (a < b && (p[a] == ' ' || p[a] == 0))
        a++;
    while (b > a && (p[b - 1] == ' ' || p[b - 1] == 0))
        b--;
    const uint8_t *bs = memchr(p + a, '\\', (size_t)(b - a));
    if (bs == NULL)
        return PyUnicode_DecodeLatin1((const char *)p + a, b - a, NULL);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t start = a;
    for (Py_ssize_t i = a; i <= b; i++) {
        if (i == b || p[i] == '\\') {
            PyObject *part = PyUnicode_DecodeLatin1((const char *)p + start, i - start, NULL);
            if (part == NULL || PyList_Append(out, part)) {
                Py_XDECREF(part);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(part);
            start = i + 1;
        }
    }
    return out;
}

/* _fastscan._decode of US (an int, None unless 2 bytes) and FD/FL (a float or a list) */
static PyObject *decode_binary(const uint8_t *p, Py_ssize_t n, int kind) {
    if (kind == 1) {
        if (n != 2)
            Py_RETURN_NONE;
        return PyLong_FromLong(u16(p));
    }
    Py_ssize_t size = kind == 3 ? 4 : 8, count = n / size;
    if (count == 1)
        return PyFloat_FromDouble(kind == 3 ? PyFloat_Unpack4((const char *)p, 1)
                                            : PyFloat_Unpack8((const char *)p, 1));
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        const char *q = (const char *)p + size * i;
        double v = kind == 3 ? PyFloat_Unpack4(q, 1) : PyFloat_Unpack8(q, 1);
        if (v == -1.0 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        PyObject *f = PyFloat_FromDouble(v);
        if (f == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, f);
    }
    return out;
}

/* One DS value of p[0:n] (spaces around it allowed): its float and its decimals (digits
   after the point, -1 with an exponent); 0 when it is not a plain decimal number
   ([+-] digits [. digits] [e|E [+-] digits], a digit before or after the point) or
   not finite.  The float is what float() gives: the same conversion
   (PyOS_string_to_double). */
static int ds_number(const uint8_t *p, Py_ssize_t n, double *out, int *decimals) {
    char buf[64];
    Py_ssize_t a = 0, b = n, i;
    while (a < b && p[a] == ' ')
        a++;
    while (b > a && p[b - 1] == ' ')
        b--;
    if (b - a >= (Py_ssize_t)sizeof buf)
        return 0;
    i = a;
    if (i < b && (p[i] == '+' || p[i] == '-'))
        i++;
    Py_ssize_t digits = 0, point = -1;
    for (; i < b; i++) {
        if (p[i] >= '0' && p[i] <= '9')
            digits++;
        else if (p[i] == '.' && point < 0)
            point = i;
        else
            break;
    }
    if (digits == 0)
        return 0;
    *decimals = point < 0 ? 0 : (int)(i - point - 1);
    if (i < b && (p[i] == 'e' || p[i] == 'E')) {
        Py_ssize_t e = ++i;
        if (i < b && (p[i] == '+' || p[i] == '-'))
            e = ++i;
        while (i < b && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == e)
            return 0;
        *decimals = -1;
    }
    if (i != b)
        return 0;
    if (*decimals >= 0 && digits <= 15) {
        /* exact: an integer below 2**53 divided by a power of ten that a double holds
           exactly is one correctly rounded operation, as the conversion itself */
        static const double tens[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        uint64_t m = 0;
        for (Py_ssize_t k = a; k < b; k++)
            if (p[k] >= '0' && p[k] <= '9')
                m = m * 10 + (uint64_t)(p[k] - '0');
        double v = (double)m / tens[*decimals];
        *out = p[a] == '-' ? -v : v;
        return 1;
    }
    memcpy(buf, p + a, (size_t)(b - a));
    buf[b - a] = 0;
    char *stop = NULL;
    double v = PyOS_string_to_double(buf, &stop, NULL);
    if (v == -1.0 && PyErr_Occurred()) { /* not expected after the checks above */
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    if (stop != buf + (b - a) || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* _fastscan._ds_numbers: (floats, decimals) of a backslash-separated DS value when every
   value is a plain decimal number (decimals: the fewest digits after the point among
   the values without exponent, -1 when all have one), else None (new reference, NULL on
   error).  The value is first stripped of spaces and NULs, as decode_text does. */
static PyObject *ds_numbers(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t a = 0, b = n, count = 1;
    while (a < b && (p[a] == ' ' || p[a] == 0))
        a++;
    while (b > a && (p[b - 1] == ' ' || p[b - 1] == 0))
        b--;
    for (Py_ssize_t i = a; i < b; i++)
        count += p[i] == '\\';
    PyObject *numbers = PyTuple_New(count);
    if (numbers == NULL)
        return NULL;
    int fewest = -1;
    Py_ssize_t start = a, k = 0;
    for (Py_ssize_t i = a; i <= b; i++) {
        if (i < b && p[i] != '\\')
            continue;
        double v;
        int decimals, rc = ds_number(p + start, i - start, &v, &decimals);
        PyObject *f = rc == 1 ? PyFloat_FromDouble(v) : NULL;
        if (f == NULL) {
            Py_DECREF(numbers);
            if (rc == 0)
                Py_RETURN_NONE;
            return NULL;
        }
        PyTuple_SET_ITEM(numbers, k++, f);
        if (decimals >= 0 && (fewest < 0 || decimals < fewest))
            fewest = decimals;
        start = i + 1;
    }
    PyObject *out = Py_BuildValue("(Ni)", numbers, fewest);
    return out;
}

static int store(Walk *w, PyObject *key, int kind, Py_ssize_t start, Py_ssize_t end) {
    PyObject *v = kind == 0 || kind == KIND_NUMBERS
                      ? decode_text(w->d + start, end - start)
                      : decode_binary(w->d + start, end - start, kind);
    if (v == NULL)
        return -1;
    int rc = PyDict_SetItem(w->values, key, v);
    Py_DECREF(v);
    return rc;
}

/* The kind of a private value: the file's VR where _fastscan._PRIVATE_VRS has it */
static int private_kind(int vr, int table_kind) {
    if (vr < 0)
        return table_kind;
    char a = (char)(vr & 0xFF), b = (char)(vr >> 8);
    if (a == 'F' && b == 'D')
        return 2;
    if (a == 'F' && b == 'L')
        return 3;
    if (a == 'U' && b == 'S')
        return 1;
    if ((a == 'D' && b == 'S') || (a == 'I' && b == 'S') || (a == 'C' && b == 'S') ||
        (a == 'L' && b == 'O') || (a == 'S' && b == 'H'))
        return 0;
    return table_kind;
}

/* A private creator of a wanted group: its wanted elements join w->priv (_fastscan._private) */
static int creator(Walk *w, uint32_t tag, Py_ssize_t start, Py_ssize_t end) {
    PyObject *text = decode_text(w->d + start, end - start), *name = NULL, *key = NULL;
    int rc = -1;
    if (text == NULL)
        return -1;
    if (PyList_Check(text)) { /* a backslash: the creator is the whole stripped text */
        PyObject *sep = PyUnicode_FromString("\\");
        PyObject *joined = sep ? PyUnicode_Join(sep, text) : NULL;
        Py_XDECREF(sep);
        Py_DECREF(text);
        text = joined;
        if (text == NULL)
            return -1;
    }
    name = PyObject_CallMethod(text, "upper", NULL);
    if (name == NULL)
        goto done;
    key = Py_BuildValue("(kO)", (unsigned long)(tag >> 16), name);
    if (key == NULL)
        goto done;
    PyObject *entries = PyDict_GetItemWithError(creators, key); /* borrowed */
    if (entries == NULL) {
        rc = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(entries);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i); /* (low, key, kind) */
        if (w->npriv == w->cappriv) {
            Py_ssize_t cap = w->cappriv ? 2 * w->cappriv : 16;
            Private *p = PyMem_Realloc(w->priv, sizeof(Private) * cap);
            if (p == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            w->priv = p;
            w->cappriv = cap;
        }
        unsigned long low = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(entry, 0));
        Private *p = &w->priv[w->npriv++];
        p->tag = (tag & 0xFFFF0000u) | ((tag & 0xFFu) << 8) | (uint32_t)(low & 0xFF);
        p->key = PyTuple_GET_ITEM(entry, 1);
        p->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
    }
    rc = 0;
done:
    Py_XDECREF(key);
    Py_XDECREF(name);
    Py_DECREF(text);
    return rc;
}

/* The latest entry of w->priv for `tag`, or NULL */
static const Private *private_of(const Walk *w, uint32_t tag) {
    for (Py_ssize_t i = w->npriv - 1; i >= 0; i--)
        if (w->priv[i].tag == tag)
            return &w->priv[i];
    return NULL;
}

/* The loop of _fastscan.parse: a status (>= 0), or -1 with a Python error set. */
static int walk_loop(Walk *w, Py_ssize_t *pos, int explicit, Elem *e) {
    for (;;) {
        int st = element(w, *pos, explicit, e);
        if (st)
            return st;
        uint32_t tag = e->tag;
        if (tag == PIXEL_TAG)
            return ST_PIXEL;
        if (maybe_listed(tag) && contains(&abort_set, tag))
            return ST_ABORT;
        Py_ssize_t start = *pos;
        *pos += e->hdr;
        if (e->length == UNDEFINED) {
            int vr_un = e->vr == ('U' | ('N' << 8));
            st = skip_sequence(w, pos, explicit && !vr_un, 0);
            if (st)
                return st;
            if (((tag & 0x10000) || (maybe_listed(tag) && contains(&skip_set, tag))) &&
                cut(w, start, *pos))
                return -1;
            continue;
        }
        Py_ssize_t end = *pos + e->length;
        if (tag & 0x10000) {
            if (cut(w, start, end))
                return -1;
            uint32_t el = tag & 0xFFFF;
            if (el <= 0xFF) {
                if (el >= 0x10 && contains(&group_set, tag >> 16)) {
                    if (end > w->len)
                        return ST_SHORT;
                    if (creator(w, tag, *pos, end))
                        return -1;
                }
            } else if (w->npriv) {
                const Private *p = private_of(w, tag);
                if (p != NULL) {
                    if (end > w->len)
                        return ST_SHORT;
                    if (store(w, p->key, private_kind(e->vr, p->kind), *pos, end))
                        return -1;
                }
            }
        } else {
            int listed = maybe_listed(tag);
            if (((listed && contains(&skip_set, tag)) || (tag & 0xFFFF) == 0) && cut(w, start, end))
                return -1;
            Py_ssize_t index = listed ? find(&wanted_set, tag) : -1;
            if (index >= 0) {
                if (end > w->len)
                    return ST_SHORT;
                if (store(w, wanted_kw[index], wanted_kind[index], *pos, end))
                    return -1;
                if (wanted_num[index] != NULL) {
                    PyObject *numbers = ds_numbers(w->d + *pos, end - *pos);
                    if (numbers == NULL)
                        return -1;
                    int rc = numbers == Py_None ? 0 : PyDict_SetItem(w->values, wanted_num[index], numbers);
                    Py_DECREF(numbers);
                    if (rc)
                        return -1;
                }
            }
        }
        *pos = end;
    }
}

static PyObject *cuts_list(const Walk *w) {
    PyObject *out = PyList_New(w->ncuts);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < w->ncuts; i++) {
        PyObject *v = PyLong_FromSsize_t(w->cuts[i]);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t pos;
    int explicit;
    PyObject *values;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*npO!:walk", &buf, &pos, &explicit, &PyDict_Type, &values))
        return NULL;
    Walk w = {(const uint8_t *)buf.buf, buf.len, NULL, 0, 16, NULL, 0, 0, values};
    PyObject *result = NULL, *cuts = NULL;
    if (creators == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "walk: configure() was not called");
        PyBuffer_Release(&buf);
        return NULL;
    }
    w.cuts = PyMem_Malloc(sizeof(Py_ssize_t) * w.capcuts);
    if (w.cuts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    w.cuts[w.ncuts++] = pos;
    Elem e = {0, -1, 0, 0};
    int st = walk_loop(&w, &pos, explicit, &e);
    if (st < 0)
        goto done;
    cuts = cuts_list(&w);
    if (cuts == NULL)
        goto done;
    result = Py_BuildValue("(inkkO)", st, pos, (unsigned long)e.hdr, (unsigned long)e.length, cuts);
done:
    Py_XDECREF(cuts);
    PyMem_Free(w.priv);
    PyMem_Free(w.cuts);
    PyBuffer_Release(&buf);
    return result;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *wanted, *skip, *groups, *table, *abort_tags;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOO!O:configure", &wanted, &skip, &groups, &PyDict_Type, &table,
                          &abort_tags))
        return NULL;
    /* check the creator table's shape once, so that walk() can use the fast macros */
    PyObject *k, *entries;
    Py_ssize_t at = 0;
    while (PyDict_Next(table, &at, &k, &entries)) {
        if (!PyList_Check(entries))
            goto bad_table;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
            PyObject *entry = PyList_GET_ITEM(entries, i);
            if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3 ||
                !PyLong_Check(PyTuple_GET_ITEM(entry, 0)) ||
                !PyUnicode_Check(PyTuple_GET_ITEM(entry, 1)) ||
                !PyLong_Check(PyTuple_GET_ITEM(entry, 2)))
                goto bad_table;
        }
    }
    if (fill_wanted(wanted) || fill(&skip_set, skip) || fill(&group_set, groups) ||
        fill(&abort_set, abort_tags))
        return NULL;
    build_filter();
    Py_INCREF(table);
    Py_XSETREF(creators, table);
    Py_RETURN_NONE;
bad_table:
    PyErr_SetString(PyExc_TypeError,
                    "configure: creators must map (group, CREATOR) to [(low, key, kind), ...]");
    return NULL;
}

/* _fastscan._meta: (status, transfer syntax, media storage SOP class, position) */
static PyObject *meta(PyObject *self, PyObject *args) {
    Py_buffer buf;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*:meta", &buf))
        return NULL;
    Walk w = {(const uint8_t *)buf.buf, buf.len, NULL, 0, 0, NULL, 0, 0, NULL};
    Py_ssize_t pos = 132, at[2] = {-1, -1}, len[2] = {0, 0};
    int st = 0;
    while (pos + 8 <= w.len && u16(w.d + pos) == 0x0002) {
        Elem e;
        st = element(&w, pos, 1, &e);
        if (st)
            break;
        int which = e.tag == 0x00020010u ? 0 : e.tag == 0x00020002u ? 1 : -1;
        Py_ssize_t start = pos + e.hdr, end = start + (Py_ssize_t)e.length;
        if (which >= 0) { /* a slice past the end is cut short, as in Python */
            at[which] = start < w.len ? start : w.len;
            len[which] = (end < w.len ? end : w.len) - at[which];
        }
        pos = end;
    }
    PyObject *text[2] = {NULL, NULL}, *result = NULL;
    for (int i = 0; i < 2; i++) {
        Py_ssize_t a = at[i] < 0 ? 0 : at[i], b = at[i] < 0 ? 0 : at[i] + len[i];
        while (a < b && (w.d[a] == ' ' || w.d[a] == 0))
            a++;
        while (b > a && (w.d[b - 1] == ' ' || w.d[b - 1] == 0))
            b--;
        text[i] = PyUnicode_DecodeLatin1((const char *)w.d + a, b - a, NULL);
        if (text[i] == NULL)
            goto done;
    }
    result = Py_BuildValue("(iOOn)", st, text[0], text[1], pos);
done:
    Py_XDECREF(text[0]);
    Py_XDECREF(text[1]);
    PyBuffer_Release(&buf);
    return result;
}

/* One element of group_elements' group: {tag: (VR or None, start, end)}; -1 on error, 1 when
   the tag is there already (pydicom would keep the last: not handled) */
static int group_store(PyObject *out, const Elem *e, Py_ssize_t start, Py_ssize_t end) {
    PyObject *key = PyLong_FromUnsignedLong(e->tag), *value = NULL;
    int rc = -1;
    if (key == NULL)
        return -1;
    int there = PyDict_Contains(out, key);
    if (there) {
        rc = there;
        goto done;
    }
    if (e->vr < 0) {
        value = Py_BuildValue("(Onn)", Py_None, start, end);
    } else {
        char vr[2] = {(char)(e->vr & 0xFF), (char)(e->vr >> 8)};
        value = Py_BuildValue("(s#nn)", vr, (Py_ssize_t)2, start, end);
    }
    if (value != NULL)
        rc = PyDict_SetItem(out, key, value);
done:
    Py_XDECREF(value);
    Py_DECREF(key);
    return rc;
}

/* _fastscan._group_elements_py: the top-level elements of one group, or None */
static PyObject *group_elements(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t pos;
    int explicit;
    unsigned int group;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*npI:group_elements", &buf, &pos, &explicit, &group))
        return NULL;
    Walk w = {(const uint8_t *)buf.buf, buf.len, NULL, 0, 0, NULL, 0, 0, NULL};
    PyObject *out = PyDict_New();
    int rc = out == NULL ? -1 : 0;
    while (rc == 0) {
        Elem e;
        if (element(&w, pos, explicit, &e) || e.tag >> 16 == 0xFFFE || contains(&abort_set, e.tag)) {
            rc = 1;
            break;
        }
        if (e.tag == PIXEL_TAG)
            break;
        uint8_t a = (uint8_t)(e.vr & 0xFF), b = (uint8_t)(e.vr >> 8);
        if (e.vr >= 0 && !is_long_vr(a, b) && !is_short_vr(a, b)) {
            rc = 1;
            break;
        }
        Py_ssize_t start = pos + e.hdr, end = start + (Py_ssize_t)e.length;
        if (e.length == UNDEFINED) {
            pos = start;
            if ((e.vr >= 0 && (a != 'S' || b != 'Q')) || e.tag >> 16 == group ||
                skip_sequence(&w, &pos, explicit, 0))
                rc = 1;
            continue;
        }
        if (end > w.len) {
            rc = 1;
            break;
        }
        if (e.tag >> 16 == group)
            rc = group_store(out, &e, start, end);
        pos = end;
    }
    PyBuffer_Release(&buf);
    if (rc == 0)
        return out;
    Py_XDECREF(out);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* the functional groups and raw elements of imagedata._fastenh: _cwalk_fastenh.c */
PyObject *cwalk_groups(PyObject *self, PyObject *args);
PyObject *cwalk_groups_configure(PyObject *self, PyObject *args);
PyObject *cwalk_raw_elements(PyObject *self, PyObject *args);
PyObject *cwalk_raw_configure(PyObject *self, PyObject *args);
/* the wanted items of a Siemens CSA header: _cwalk_csa.c */
PyObject *cwalk_csa_items(PyObject *self, PyObject *args);

/* _fastscan._digest: the hash of the bytes object that joins data[a:b] of each pair */
static PyObject *digest(PyObject *self, PyObject *args) {
    Py_buffer buf;
    PyObject *cuts, *joined = NULL, *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!:digest", &buf, &PyList_Type, &cuts))
        return NULL;
    Py_ssize_t pairs = PyList_GET_SIZE(cuts) / 2, total = 0;
    Py_ssize_t *range = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (pairs ? pairs : 1));
    if (range == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < pairs; i++) {
        Py_ssize_t a = PyLong_AsSsize_t(PyList_GET_ITEM(cuts, 2 * i));
        Py_ssize_t b = PyLong_AsSsize_t(PyList_GET_ITEM(cuts, 2 * i + 1));
        if ((a == -1 || b == -1) && PyErr_Occurred())
            goto done;
        total += PySlice_AdjustIndices(buf.len, &a, &b, 1); /* as data[a:b] */
        range[2 * i] = a;
        range[2 * i + 1] = b;
    }
    joined = PyBytes_FromStringAndSize(NULL, total);
    if (joined == NULL)
        goto done;
    char *out = PyBytes_AS_STRING(joined);
    for (Py_ssize_t i = 0; i < pairs; i++) {
        Py_ssize_t n = range[2 * i + 1] - range[2 * i];
        if (n > 0) {
            memcpy(out, (const char *)buf.buf + range[2 * i], (size_t)n);
            out += n;
        }
    }
    Py_hash_t h = PyObject_Hash(joined);
    if (h != -1 || !PyErr_Occurred())
        result = PyLong_FromSsize_t(h);
done:
    Py_XDECREF(joined);
    PyMem_Free(range);
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "Walk the element headers of a DICOM data set (see module doc)."},
    {"meta", meta, METH_VARARGS, "Read the file meta group (see module doc)."},
    {"digest", digest, METH_VARARGS, "Hash of the byte ranges a walk kept (see module doc)."},
    {"configure", configure, METH_VARARGS, "Set the wanted, skip, private and abort tables."},
    {"groups", cwalk_groups, METH_VARARGS, "Walk a functional groups sequence (_cwalk_fastenh.c)."},
    {"groups_configure", cwalk_groups_configure, METH_VARARGS,
     "Set the tables of the functional groups walk (_cwalk_fastenh.c)."},
    {"raw_elements", cwalk_raw_elements, METH_VARARGS,
     "Top-level elements as pydicom RawDataElements (_cwalk_fastenh.c)."},
    {"group_elements", group_elements, METH_VARARGS,
     "The top-level elements of one group (see module doc)."},
    {"csa_items", cwalk_csa_items, METH_VARARGS, "Wanted items of a Siemens CSA header (_cwalk_csa.c)."},
    {"raw_configure", cwalk_raw_configure, METH_VARARGS,
     "Set the classes raw_elements makes (_cwalk_fastenh.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cwalk",
    "The element walk of imagedata._fastscan.parse in C (see _cwalk.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cwalk(void) { return PyModule_Create(&module); }
