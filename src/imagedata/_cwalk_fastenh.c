/*
 * imagedata._cwalk, functional groups: the walk of imagedata._fastenh, in C.
 *
 * An enhanced multi-frame file holds one Per-frame Functional Groups Sequence item per
 * frame, each a few nested sequences: thousands of elements, most of the header pass of
 * such a file when stepped through in Python.  This part of the extension walks them with
 * exactly the rules of _fastenh._items, _dataset, _skip_items, _skip_item and decode
 * (which stay the reference, and the fallback where the extension was not built) and
 * builds the same Python structures: a list of dict items holding the wanted sequences
 * (lists of dict items again) and the wanted values, decoded as _fastenh.decode does
 * (DS numbers by calling back _fastenh._number).  What the Python walk raises, this
 * raises: _fastenh.Short where the data end inside the sequence (Python: Short, or a
 * struct.error turned into Short), _fastenh.Unhandled for a structure not handled (the
 * caller reads the file with pydicom).  One difference: items nested deeper than
 * G_MAX_DEPTH are Unhandled here (Python would give up at its recursion limit).
 *
 * groups_configure(sequences, values, number, short, unhandled) stores the tables once:
 *   sequences  [(tag, keyword), ...]  the kept sequences (_fastenh._SEQ_TAGS)
 *   values     [(tag, keyword, vr)]   the decoded values and their VR bytes as in
 *                                     _fastenh._VALUE_TAGS (b"DSnumber" for DS numbers)
 *   number     _fastenh._number, called with each DS number's text
 *   short, unhandled  the classes _fastenh.Short and _fastenh.Unhandled
 * groups(data, pos, length) -> (items, end)
 *   _fastenh._items: the items of a kept sequence whose value (of `length`, 0xFFFFFFFF
 *   when undefined) starts at `pos`, and the position after it.
 *
 * raw_configure(tag, element) stores pydicom's BaseTag and RawDataElement classes;
 * raw_elements(data, pos, cut_start, cut_end, meta) -> (elements, end)
 *   _fastenh._raw_elements (cut_start -1: no cut): {BaseTag: RawDataElement} of the
 *   explicit VR little endian elements from `pos`, the file meta group (`meta`) or the
 *   data set up to the pixel data; raises Unhandled or Short where Python raises
 *   Unhandled or struct.error (the caller reads the file with pydicom either way).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_cwalk_bytes.h"

#if PY_VERSION_HEX < 0x030B0000
#define PyFloat_Unpack8 _PyFloat_Unpack8
#define PyFloat_Unpack4 _PyFloat_Unpack4
#endif

#define G_ITEM 0xFFFEE000u
#define G_SEQ_END 0xFFFEE0DDu
#define G_UNDEFINED 0xFFFFFFFFu
#define G_MAX_DEPTH 200
#define VR2(a, b) ((a) | ((b) << 8))

/* How a wanted value is decoded (_fastenh.decode by the table's VR) */
enum { K_FD, K_FL, K_UL, K_US, K_SL, K_NUMTEXT, K_DSNUMBER, K_STRIP_EACH, K_TEXT, K_OTHER };

typedef struct {
    uint32_t tag;
    PyObject *kw; /* str, owned */
    int vr;       /* the two VR bytes a file's element must have */
    int kind;
} GTag;

typedef struct {
    GTag *v;
    Py_ssize_t n;
} GTable;

static GTable g_seqs, g_vals;
static PyObject *g_number, *g_short, *g_unhandled;
static PyObject *g_tag_type, *g_element_type; /* pydicom BaseTag, RawDataElement */

typedef struct {
    const uint8_t *d;
    Py_ssize_t n;
} GBuf;

static const GTag *g_find(const GTable *t, uint32_t tag) {
    Py_ssize_t lo = 0, hi = t->n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (t->v[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->v[lo].tag == tag ? &t->v[lo] : NULL;
}

static void *g_raise_short(void) {
    PyErr_SetNone(g_short);
    return NULL;
}

static void *g_raise_unhandled(void) {
    PyErr_SetNone(g_unhandled);
    return NULL;
}

/* ---- decode (_fastenh.decode) ---------------------------------------------------------- */

static PyObject *g_binary(const uint8_t *p, int kind) {
    switch (kind) {
    case K_FD:
        return PyFloat_FromDouble(PyFloat_Unpack8((const char *)p, 1));
    case K_FL:
        return PyFloat_FromDouble(PyFloat_Unpack4((const char *)p, 1));
    case K_UL:
        return PyLong_FromUnsignedLong(u32(p));
    case K_US:
        return PyLong_FromLong(u16(p));
    default: /* K_SL */
        return PyLong_FromLong((long)(int32_t)u32(p));
    }
}

static PyObject *g_decode_binary(const uint8_t *p, Py_ssize_t n, int kind) {
    Py_ssize_t size = kind == K_FD ? 8 : kind == K_US ? 2 : 4;
    if (n % size)
        return g_raise_unhandled();
    Py_ssize_t count = n / size;
    if (count == 0)
        Py_RETURN_NONE;
    if (count == 1)
        return g_binary(p, kind);
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *v = g_binary(p + i * size, kind);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

static inline int g_pad(uint8_t c) { return c == ' ' || c == 0; }

/* The parts of text p[a:b] split at backslashes; each part's trailing spaces and NULs
 * removed with `strip_each`; each part a str, or _fastenh._number(str) with `number` */
static PyObject *g_parts(const uint8_t *p, Py_ssize_t a, Py_ssize_t b, int strip_each,
                         int number) {
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t start = a;
    for (Py_ssize_t i = a; i <= b; i++) {
        if (i < b && p[i] != '\\')
            continue;
        Py_ssize_t stop = i;
        while (strip_each && stop > start && g_pad(p[stop - 1]))
            stop--;
        PyObject *part = PyUnicode_DecodeASCII((const char *)p + start, stop - start, NULL);
        if (part != NULL && number)
            Py_SETREF(part, PyObject_CallOneArg(g_number, part));
        if (part == NULL || PyList_Append(out, part)) {
            Py_XDECREF(part);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(part);
        start = i + 1;
    }
    if (PyList_GET_SIZE(out) == 1) { /* one value: itself, not a list */
        PyObject *one = PyList_GET_ITEM(out, 0);
        Py_INCREF(one);
        Py_DECREF(out);
        return one;
    }
    return out;
}

static PyObject *g_decode(const uint8_t *p, Py_ssize_t n, int kind) {
    if (kind <= K_SL)
        return g_decode_binary(p, n, kind);
    if (kind == K_OTHER)
        return g_raise_unhandled();
    Py_ssize_t a = 0, b = n;
    if (kind == K_NUMTEXT || kind == K_DSNUMBER) { /* empty (padding only): None */
        while (a < b && g_pad(p[a]))
            a++;
        if (a == b)
            Py_RETURN_NONE;
    }
    for (Py_ssize_t i = 0; i < n; i++) /* _fastenh._ascii: the whole value */
        if (p[i] & 0x80)
            return g_raise_unhandled();
    if (kind != K_STRIP_EACH)
        while (b > a && g_pad(p[b - 1]))
            b--;
    return g_parts(p, a, b, kind == K_STRIP_EACH, kind == K_DSNUMBER);
}

/* ---- the walk (_fastenh._items, _dataset, _skip_items, _skip_item) --------------------- */

static int g_skip_item(const GBuf *g, Py_ssize_t *pos, int explicit, int depth);

/* _fastenh._skip_items: 0, or -1 with an exception set */
static int g_skip_items(const GBuf *g, Py_ssize_t *pos, int explicit, int depth) {
    if (depth > G_MAX_DEPTH) {
        g_raise_unhandled();
        return -1;
    }
    Py_ssize_t p = *pos;
    for (;;) {
        if (p + 8 > g->n) {
            g_raise_short();
            return -1;
        }
        uint32_t tag = (uint32_t)u16(g->d + p) << 16 | u16(g->d + p + 2);
        uint32_t length = u32(g->d + p + 4);
        p += 8;
        if (tag == G_SEQ_END) {
            *pos = p;
            return 0;
        }
        if (tag != G_ITEM) {
            g_raise_unhandled();
            return -1;
        }
        if (length == G_UNDEFINED) {
            if (g_skip_item(g, &p, explicit, depth + 1))
                return -1;
        } else {
            p += length;
        }
    }
}

/* _fastenh._skip_item: 0, or -1 with an exception set */
static int g_skip_item(const GBuf *g, Py_ssize_t *pos, int explicit, int depth) {
    if (depth > G_MAX_DEPTH) {
        g_raise_unhandled();
        return -1;
    }
    Py_ssize_t p = *pos;
    for (;;) {
        if (p + 8 > g->n) {
            g_raise_short();
            return -1;
        }
        const uint8_t *h = g->d + p;
        uint16_t group = u16(h), elem = u16(h + 2);
        uint32_t size;
        int vr_un = 1;
        if (explicit) {
            size = u16(h + 6);
            vr_un = h[4] == 'U' && h[5] == 'N';
            if (group != 0xFFFE && is_long_vr(h[4], h[5])) {
                if (p + 12 > g->n) {
                    g_raise_short();
                    return -1;
                }
                size = u32(h + 8);
                p += 4;
            } else if (group != 0xFFFE && !is_short_vr(h[4], h[5])) {
                g_raise_unhandled();
                return -1;
            }
        } else {
            size = u32(h + 4);
        }
        p += 8;
        if (group == 0xFFFE) {
            if (elem == 0xE00D) {
                *pos = p;
                return 0;
            }
            g_raise_unhandled();
            return -1;
        }
        if (size == G_UNDEFINED) {
            if (g_skip_items(g, &p, explicit && !vr_un, depth + 1))
                return -1;
        } else {
            p += size;
        }
    }
}

static PyObject *g_items(const GBuf *g, Py_ssize_t *pos, uint32_t length, int depth);

/* One element of an item at *pos (_fastenh._dataset's loop body): 0, 1 at the item's
 * end delimiter (undefined length), or -1 with an exception set */
static int g_element(const GBuf *g, Py_ssize_t *pos, int undefined, PyObject *out, int depth) {
    Py_ssize_t p = *pos;
    if (p + 8 > g->n) {
        g_raise_short();
        return -1;
    }
    const uint8_t *h = g->d + p;
    uint16_t group = u16(h), elem = u16(h + 2);
    uint32_t size = u16(h + 6);
    int vr = VR2(h[4], h[5]);
    if (group == 0xFFFE) {
        if (elem == 0xE00D && undefined) {
            *pos = p + 8;
            return 1;
        }
        g_raise_unhandled();
        return -1;
    }
    if (is_long_vr(h[4], h[5])) {
        if (p + 12 > g->n) {
            g_raise_short();
            return -1;
        }
        size = u32(h + 8);
        p += 12;
    } else if (is_short_vr(h[4], h[5])) {
        p += 8;
    } else {
        g_raise_unhandled();
        return -1;
    }
    uint32_t tag = (uint32_t)group << 16 | elem;
    const GTag *seq = g_find(&g_seqs, tag), *want;
    if (seq != NULL) {
        int seen = PyDict_Contains(out, seq->kw);
        if (seen < 0)
            return -1;
        if (vr != VR2('S', 'Q') || seen) {
            g_raise_unhandled();
            return -1;
        }
        PyObject *items = g_items(g, &p, size, depth + 1);
        if (items == NULL || PyDict_SetItem(out, seq->kw, items)) {
            Py_XDECREF(items);
            return -1;
        }
        Py_DECREF(items);
    } else if (size == G_UNDEFINED) {
        if (vr != VR2('S', 'Q') && vr != VR2('U', 'N')) {
            g_raise_unhandled();
            return -1;
        }
        if (g_skip_items(g, &p, vr == VR2('S', 'Q'), depth + 1))
            return -1;
    } else {
        if ((want = g_find(&g_vals, tag)) != NULL) {
            if (vr != want->vr) {
                g_raise_unhandled();
                return -1;
            }
            if (p + (Py_ssize_t)size > g->n) {
                g_raise_short();
                return -1;
            }
            PyObject *v = g_decode(g->d + p, size, want->kind);
            if (v == NULL || PyDict_SetItem(out, want->kw, v)) {
                Py_XDECREF(v);
                return -1;
            }
            Py_DECREF(v);
        }
        p += size;
    }
    *pos = p;
    return 0;
}

/* _fastenh._dataset: the wanted contents of an item whose elements start at *pos */
static PyObject *g_dataset(const GBuf *g, Py_ssize_t *pos, uint32_t length, int depth) {
    if (depth > G_MAX_DEPTH)
        return g_raise_unhandled();
    Py_ssize_t p = *pos;
    int undefined = length == G_UNDEFINED;
    Py_ssize_t end = undefined ? -1 : p + (Py_ssize_t)length;
    if (!undefined && end > g->n)
        return g_raise_short();
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    while (undefined || p < end) {
        int st = g_element(g, &p, undefined, out, depth);
        if (st < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (st == 1) {
            *pos = p;
            return out;
        }
    }
    if (p != end) {
        Py_DECREF(out);
        return g_raise_unhandled();
    }
    *pos = p;
    return out;
}

/* _fastenh._items: the items of a kept sequence whose value starts at *pos */
static PyObject *g_items(const GBuf *g, Py_ssize_t *pos, uint32_t length, int depth) {
    if (depth > G_MAX_DEPTH)
        return g_raise_unhandled();
    Py_ssize_t p = *pos;
    int undefined = length == G_UNDEFINED;
    Py_ssize_t end = undefined ? -1 : p + (Py_ssize_t)length;
    if (!undefined && end > g->n)
        return g_raise_short();
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return NULL;
    while (undefined || p < end) {
        if (p + 8 > g->n) {
            g_raise_short();
            goto fail;
        }
        uint32_t tag = (uint32_t)u16(g->d + p) << 16 | u16(g->d + p + 2);
        uint32_t item_length = u32(g->d + p + 4);
        p += 8;
        if (tag == G_SEQ_END && undefined) {
            *pos = p;
            return items;
        }
        if (tag != G_ITEM) {
            g_raise_unhandled();
            goto fail;
        }
        PyObject *item = g_dataset(g, &p, item_length, depth + 1);
        if (item == NULL || PyList_Append(items, item)) {
            Py_XDECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    if (p != end) {
        g_raise_unhandled();
        goto fail;
    }
    *pos = p;
    return items;
fail:
    Py_DECREF(items);
    return NULL;
}

PyObject *cwalk_groups(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t pos;
    unsigned long length;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nk:groups", &buf, &pos, &length))
        return NULL;
    PyObject *items = NULL;
    if (g_short == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "groups: groups_configure() was not called");
    } else if (pos < 0 || length > G_UNDEFINED) {
        PyErr_SetString(PyExc_ValueError, "groups: negative position or length beyond 32 bits");
    } else {
        GBuf g = {(const uint8_t *)buf.buf, buf.len};
#if PY_VERSION_HEX >= 0x030A0000
        /* thousands of new containers, none in a cycle: no collection runs meanwhile */
        int gc_was_on = PyGC_Disable();
        items = g_items(&g, &pos, (uint32_t)length, 0);
        if (gc_was_on)
            PyGC_Enable();
#else
        items = g_items(&g, &pos, (uint32_t)length, 0);
#endif
    }
    PyBuffer_Release(&buf);
    if (items == NULL)
        return NULL;
    return Py_BuildValue("(Nn)", items, pos);
}

/* ---- configuration ---------------------------------------------------------------------- */

static int g_cmp(const void *a, const void *b) {
    uint32_t x = ((const GTag *)a)->tag, y = ((const GTag *)b)->tag;
    return (x > y) - (x < y);
}

static void g_clear(GTable *t) {
    for (Py_ssize_t i = 0; i < t->n; i++)
        Py_DECREF(t->v[i].kw);
    PyMem_Free(t->v);
    t->v = NULL;
    t->n = 0;
}

/* The decoding of a table VR (bytes) as _fastenh.decode chooses it */
static int g_kind(const char *vr, Py_ssize_t n) {
    static const char *names[] = {"FD", "FL", "UL", "US", "SL", "DS", "IS", "DSnumber",
                                  "SH", "LO", "CS", "DT"};
    static const int kinds[] = {K_FD,       K_FL,       K_UL,         K_US,
                                K_SL,       K_NUMTEXT,  K_NUMTEXT,    K_DSNUMBER,
                                K_STRIP_EACH, K_STRIP_EACH, K_TEXT,   K_TEXT};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if ((size_t)n == strlen(names[i]) && memcmp(vr, names[i], (size_t)n) == 0)
            return kinds[i];
    return K_OTHER;
}

/* Fill `t` from [(tag, keyword), ...] or, with `with_vr`, [(tag, keyword, vr bytes), ...] */
static int g_fill(GTable *t, PyObject *iterable, int with_vr) {
    PyObject *seq = PySequence_Fast(iterable, "groups_configure: tables must be sequences");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), done = 0;
    GTag *v = PyMem_Calloc(n ? n : 1, sizeof(GTag));
    if (v == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (; done < n; done++) {
        PyObject *entry = PySequence_Fast_GET_ITEM(seq, done);
        unsigned long tag;
        PyObject *kw;
        const char *vr = "SQ";
        Py_ssize_t vr_len = 2;
        int ok = with_vr ? PyArg_ParseTuple(entry, "kUy#", &tag, &kw, &vr, &vr_len)
                         : PyArg_ParseTuple(entry, "kU", &tag, &kw);
        if (!ok)
            break;
        if (vr_len < 2) {
            PyErr_SetString(PyExc_ValueError, "groups_configure: a VR has two letters");
            break;
        }
        v[done].tag = (uint32_t)tag;
        v[done].kw = kw;
        Py_INCREF(kw);
        v[done].vr = VR2((uint8_t)vr[0], (uint8_t)vr[1]);
        v[done].kind = g_kind(vr, vr_len);
    }
    Py_DECREF(seq);
    if (done < n) {
        for (Py_ssize_t i = 0; i < done; i++)
            Py_DECREF(v[i].kw);
        PyMem_Free(v);
        return -1;
    }
    qsort(v, (size_t)n, sizeof(GTag), g_cmp);
    g_clear(t);
    t->v = v;
    t->n = n;
    return 0;
}

PyObject *cwalk_groups_configure(PyObject *self, PyObject *args) {
    PyObject *seqs, *vals, *number, *short_exc, *unhandled_exc;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOO:groups_configure", &seqs, &vals, &number, &short_exc,
                          &unhandled_exc))
        return NULL;
    if (!PyCallable_Check(number) || !PyExceptionClass_Check(short_exc) ||
        !PyExceptionClass_Check(unhandled_exc)) {
        PyErr_SetString(PyExc_TypeError,
                        "groups_configure: number must be callable, short and unhandled "
                        "exception classes");
        return NULL;
    }
    if (g_fill(&g_seqs, seqs, 0) || g_fill(&g_vals, vals, 1))
        return NULL;
    Py_INCREF(number);
    Py_XSETREF(g_number, number);
    Py_INCREF(short_exc);
    Py_XSETREF(g_short, short_exc);
    Py_INCREF(unhandled_exc);
    Py_XSETREF(g_unhandled, unhandled_exc);
    Py_RETURN_NONE;
}

/* ---- raw elements (_fastenh._raw_elements) ---------------------------------------------- */

static int g_is_pixel_tag(uint32_t tag) {
    return tag == 0x7FE00010u || tag == 0x7FE00008u || tag == 0x7FE00009u;
}

/* RawDataElement(BaseTag(tag), vr, length, value, start, False, True) into `out` */
static int g_raw_store(PyObject *out, uint32_t tag, const uint8_t *vr, uint32_t length,
                       const uint8_t *d, Py_ssize_t start, Py_ssize_t end) {
    PyObject *number = PyLong_FromUnsignedLong(tag), *key = NULL, *element = NULL;
    PyObject *args[7] = {NULL, NULL, NULL, NULL, NULL, Py_False, Py_True};
    int rc = -1;
    if (number == NULL)
        return -1;
    key = PyObject_CallOneArg(g_tag_type, number);
    args[0] = key;
    args[1] = PyUnicode_DecodeASCII((const char *)vr, 2, NULL);
    args[2] = PyLong_FromUnsignedLong(length);
    args[3] = PyBytes_FromStringAndSize((const char *)d + start, end - start);
    args[4] = PyLong_FromSsize_t(start);
    if (key != NULL && args[1] != NULL && args[2] != NULL && args[3] != NULL && args[4] != NULL) {
        element = PyObject_Vectorcall(g_element_type, args, 7, NULL);
        if (element != NULL)
            rc = PyDict_SetItem(out, key, element);
    }
    Py_DECREF(number);
    for (int i = 0; i < 5; i++)
        Py_XDECREF(args[i]);
    Py_XDECREF(element);
    return rc;
}

/* One element at *pos of _fastenh._raw_elements' loop: 0, 1 at its end, -1 (exception) */
static int g_raw_element(const GBuf *g, Py_ssize_t *pos, int meta, PyObject *out) {
    Py_ssize_t p = *pos;
    const uint8_t *h = g->d + p;
    uint16_t group = u16(h);
    uint32_t tag = (uint32_t)group << 16 | u16(h + 2), size = u16(h + 6);
    if (meta ? group != 2 : g_is_pixel_tag(tag))
        return 1;
    Py_ssize_t start, end;
    if (is_long_vr(h[4], h[5])) {
        if (p + 12 > g->n) {
            g_raise_short();
            return -1;
        }
        size = u32(h + 8);
        start = p + 12;
    } else if (is_short_vr(h[4], h[5])) {
        start = p + 8;
    } else {
        g_raise_unhandled();
        return -1;
    }
    if (size == G_UNDEFINED) {
        if (h[4] != 'S' || h[5] != 'Q') {
            g_raise_unhandled();
            return -1;
        }
        p = start;
        if (g_skip_items(g, &p, 1, 0))
            return -1;
        end = p - 8; /* without the sequence delimiter */
    } else {
        p = end = start + (Py_ssize_t)size;
        if (p > g->n) {
            g_raise_unhandled();
            return -1;
        }
    }
    if (g_raw_store(out, tag, h + 4, size, g->d, start, end))
        return -1;
    *pos = p;
    return 0;
}

PyObject *cwalk_raw_elements(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t pos, cut_start, cut_end;
    int meta;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnnp:raw_elements", &buf, &pos, &cut_start, &cut_end, &meta))
        return NULL;
    PyObject *out = NULL;
    if (g_element_type == NULL || g_unhandled == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "raw_elements: raw_configure() and groups_configure() were not called");
        goto done;
    }
    if (pos < 0 || (cut_start >= 0 && cut_end <= cut_start)) {
        PyErr_SetString(PyExc_ValueError, "raw_elements: negative position or empty cut");
        goto done;
    }
    out = PyDict_New();
    if (out == NULL)
        goto done;
    GBuf g = {(const uint8_t *)buf.buf, buf.len};
    while (pos + 8 <= g.n) {
        if (cut_start >= 0 && pos == cut_start) {
            pos = cut_end;
            continue;
        }
        int st = g_raw_element(&g, &pos, meta, out);
        if (st < 0)
            Py_CLEAR(out);
        if (st)
            break;
    }
done:
    PyBuffer_Release(&buf);
    if (out == NULL)
        return NULL;
    return Py_BuildValue("(Nn)", out, pos);
}

PyObject *cwalk_raw_configure(PyObject *self, PyObject *args) {
    PyObject *tag_type, *element_type;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO:raw_configure", &tag_type, &element_type))
        return NULL;
    if (!PyCallable_Check(tag_type) || !PyCallable_Check(element_type)) {
        PyErr_SetString(PyExc_TypeError, "raw_configure: tag and element must be callable");
        return NULL;
    }
    Py_INCREF(tag_type);
    Py_XSETREF(g_tag_type, tag_type);
    Py_INCREF(element_type);
    Py_XSETREF(g_element_type, element_type);
    Py_RETURN_NONE;
}
