/*
 * imagedata._cwalk, Siemens CSA headers: the wanted items of one, in C.
 *
 * The header pass needs four items of a mosaic's CSA image header (the number of tiles,
 * the slice normal, the b-value and gradient); converting all of its hundred-odd tags in
 * Python (formats/dicom/_csa.py: _parse) cost more than the rest of the file's header.
 * This walks the header with exactly the rules of _csa._parse (which stays the reference,
 * and the fallback where the extension was not built) and hands back only the raw item
 * bytes of the wanted tags; _csa.parse_items decodes and converts them as _parse does.
 *
 * csa_items(data, names) -> [(name, vm, vr, [item bytes, ...]), ...] or None
 *   names  a tuple of bytes: the tag names wanted
 *   every occurrence of a wanted tag, in order: its name and VR (bytes up to the first NUL),
 *   its VM, and the bytes of each non-empty item up to its first NUL (not yet stripped);
 *   None where _parse raises (struct.error, ValueError: a bad tag or item count, data
 *   ending inside a tag or item header), since parse_csa then gives {} for every tag.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_cwalk_bytes.h"

#define CSA_MAX_TAGS 1024 /* 128 * 8 */
#define CSA_MAX_ITEMS 1000
#define CSA_TAG_SIZE 84 /* struct "<64si4s3i" */
#define CSA_ITEM_SIZE 16 /* struct "<4i" */

/* The length of a NUL-terminated field of `n` bytes */
static Py_ssize_t field_len(const uint8_t *p, Py_ssize_t n) {
    const uint8_t *nul = memchr(p, 0, (size_t)n);
    return nul == NULL ? n : nul - p;
}

/* True when the name (n bytes) is one of `names` */
static int wanted(PyObject *names, const uint8_t *name, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *w = PyTuple_GET_ITEM(names, i);
        if (PyBytes_GET_SIZE(w) == n && memcmp(PyBytes_AS_STRING(w), name, (size_t)n) == 0)
            return 1;
    }
    return 0;
}

/* The items of one tag from *ptr (appended to `items` when not NULL): 0, 1 for _parse's
   struct.error, -1 with an exception */
static int tag_items(const uint8_t *d, Py_ssize_t size, Py_ssize_t *ptr, int32_t nitems, int csa2,
                     int64_t first_nitems, PyObject *items) {
    for (int32_t i = 0; i < nitems; i++) {
        if (*ptr + CSA_ITEM_SIZE > size)
            return 1;
        int32_t x0 = (int32_t)u32(d + *ptr), x1 = (int32_t)u32(d + *ptr + 4);
        *ptr += CSA_ITEM_SIZE;
        int64_t length = csa2 ? (int64_t)x1 : (int64_t)x0 - first_nitems;
        if (length == 0) /* an empty item (most are) */
            continue;
        int64_t end = (int64_t)*ptr + length;
        if (length < 0 || end > (int64_t)size)
            break;
        if (items != NULL) {
            PyObject *text = PyBytes_FromStringAndSize(
                (const char *)d + *ptr, field_len(d + *ptr, (Py_ssize_t)length));
            int rc = text == NULL ? -1 : PyList_Append(items, text);
            Py_XDECREF(text);
            if (rc)
                return -1;
        }
        *ptr = (Py_ssize_t)(end + ((4 - length % 4) % 4));
    }
    return 0;
}

PyObject *cwalk_csa_items(PyObject *self, PyObject *args) {
    Py_buffer buf;
    PyObject *names;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!:csa_items", &buf, &PyTuple_Type, &names))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++)
        if (!PyBytes_Check(PyTuple_GET_ITEM(names, i))) {
            PyBuffer_Release(&buf);
            PyErr_SetString(PyExc_TypeError, "csa_items: names must be a tuple of bytes");
            return NULL;
        }
    const uint8_t *d = buf.buf;
    Py_ssize_t size = buf.len;
    int csa2 = size >= 4 && memcmp(d, "SV10", 4) == 0;
    Py_ssize_t ptr = csa2 ? 8 : 0;
    int64_t first_nitems = 0;
    int rc = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL || ptr + 8 > size) {
        rc = out == NULL ? -1 : 1;
        goto done;
    }
    uint32_t ntags = u32(d + ptr);
    ptr += 8;
    if (ntags == 0 || ntags > CSA_MAX_TAGS) {
        rc = 1;
        goto done;
    }
    for (uint32_t t = 0; t < ntags && rc == 0; t++) {
        if (ptr + CSA_TAG_SIZE > size) {
            rc = 1;
            break;
        }
        const uint8_t *h = d + ptr;
        int32_t vm = (int32_t)u32(h + 64), nitems = (int32_t)u32(h + 76);
        ptr += CSA_TAG_SIZE;
        if (t == 1)
            first_nitems = nitems;
        if (nitems < 0 || nitems > CSA_MAX_ITEMS) {
            rc = 1;
            break;
        }
        Py_ssize_t name_len = field_len(h, 64);
        PyObject *items = wanted(names, h, name_len) ? PyList_New(0) : NULL;
        if (items == NULL && PyErr_Occurred()) {
            rc = -1;
            break;
        }
        rc = tag_items(d, size, &ptr, nitems, csa2, first_nitems, items);
        if (rc == 0 && items != NULL) {
            PyObject *entry = Py_BuildValue("(y#iy#O)", (const char *)h, name_len, (int)vm,
                                            (const char *)h + 68, field_len(h + 68, 4), items);
            rc = entry == NULL ? -1 : PyList_Append(out, entry);
            Py_XDECREF(entry);
        }
        Py_XDECREF(items);
    }
done:
    PyBuffer_Release(&buf);
    if (rc == 0)
        return out;
    Py_XDECREF(out);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}
