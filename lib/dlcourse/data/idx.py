"""Read the IDX format, MNIST's file format: a tiny header, then raw big-endian numbers.

Layout: two zero bytes, one byte naming the element type, one byte giving the number
of dimensions ``d``, then ``d`` sizes as big-endian unsigned 32-bit integers, then the
elements in C order. ``train-images-idx3-ubyte`` is (60000, 28, 28) unsigned bytes.
"""

import gzip

import numpy as np

__all__ = ["read_idx"]

# type byte -> element type (IDX numbers are big-endian, hence ">")
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(source, name=None):
    """Parse one IDX file into a NumPy array.

    Args:
        source: a path (``.gz`` files are decompressed) or the file's bytes.
        name: what to call the file in error messages (defaults to the path).

    Returns:
        An array with the shape stored in the header, in native byte order.

    Raises:
        ValueError naming the file when the header or the length is wrong.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source)
        name = name or "<bytes>"
    else:
        name = name or str(source)
        opener = gzip.open if str(source).endswith(".gz") else open
        with opener(source, "rb") as f:
            raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(
            f"{name}: not an IDX file (expected the header 00 00 <type> <ndim>, "
            f"got {raw[:4].hex(' ') or 'an empty file'})."
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: IDX header promises {ndim} sizes but the file ends early.")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{name}: IDX header says shape {shape} ({expected} bytes with header), "
            f"got {len(raw)} bytes."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))
