"""Read a TensorFlow checkpoint (a "tensor bundle") without TensorFlow.

A checkpoint prefix P names two files: `P.index`, a LevelDB-format table (sorted keys, prefix-
compressed, in blocks located by an index block and a fixed 48-byte footer) mapping each
variable's name to a `BundleEntryProto`, and `P.data-00000-of-00001`, the tensors' raw little-
endian bytes at the offsets those entries give. Only what MSD-musicnn's checkpoint uses is read:
uncompressed blocks, one data shard, dense float and integer tensors. The format is TensorFlow's
(tensorflow/core/util/tensor_bundle, tensorflow/core/lib/io/table); nothing of TensorFlow is
imported, so importing a model never installs it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER = 48
BLOCK_TRAILER = 5  # a compression-type byte and a CRC32C
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_}  # tensorflow/core/framework/types.proto


class BundleError(ValueError):
    """Not a TensorFlow checkpoint this reader understands; the message says which file and why."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(message: bytes) -> list[tuple[int, int | bytes]]:
    """A protobuf message's (field number, value) pairs: varints as ints, the rest as bytes."""
    fields, at = [], 0
    while at < len(message):
        key, at = _varint(message, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(message, at)
        elif wire == 1:
            value, at = message[at:at + 8], at + 8
        elif wire == 2:
            length, at = _varint(message, at)
            value, at = message[at:at + length], at + length
        elif wire == 5:
            value, at = message[at:at + 4], at + 4
        else:
            raise BundleError(f"protobuf wire type {wire} is not used by tensor bundles")
        fields.append((number, value))
    return fields


def _block(index: bytes, offset: int, size: int, path: Path) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of one table block."""
    if index[offset + size] != 0:
        raise BundleError(f"{path}: a compressed table block (only uncompressed checkpoints are read)")
    block = index[offset:offset + size]
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end, at, key, entries = len(block) - 4 * (restarts + 1), 0, b"", []
    while at < end:
        shared, at = _varint(block, at)
        unshared, at = _varint(block, at)
        length, at = _varint(block, at)
        key = key[:shared] + block[at:at + unshared]
        at += unshared
        entries.append((key, block[at:at + length]))
        at += length
    return entries


def _handle(data: bytes, at: int = 0) -> tuple[int, int, int]:
    offset, at = _varint(data, at)
    size, at = _varint(data, at)
    return offset, size, at


def read_bundle(prefix: str | Path) -> dict[str, np.ndarray]:
    """{variable name: array} of every tensor in the checkpoint at `prefix`."""
    prefix = str(prefix)
    index_path, data_path = Path(prefix + ".index"), Path(prefix + ".data-00000-of-00001")
    for path in (index_path, data_path):
        if not path.is_file():
            raise BundleError(f"{path}: missing (a checkpoint prefix names .index and .data-00000-of-00001 files)")
    index = index_path.read_bytes()
    if len(index) < FOOTER or struct.unpack_from("<Q", index, len(index) - 8)[0] != TABLE_MAGIC:
        raise BundleError(f"{index_path}: not a TensorFlow table (no table magic number)")
    footer = index[-FOOTER:]
    _, _, at = _handle(footer)
    index_offset, index_size, _ = _handle(footer, at)
    data = data_path.read_bytes()
    tensors = {}
    for _, handle in _block(index, index_offset, index_size, index_path):
        offset, size, _ = _handle(handle)
        for key, entry in _block(index, offset, size, index_path):
            if key:  # the empty key holds the bundle's header
                tensors[key.decode()] = _tensor(dict(_fields(entry)), data, key.decode(), data_path)
    return tensors


def _tensor(entry: dict[int, int | bytes], data: bytes, name: str, path: Path) -> np.ndarray:
    dtype = DTYPES.get(entry.get(1, 0))
    if dtype is None or entry.get(3, 0) != 0 or 7 in entry:
        raise BundleError(f"{path}: {name} is not a dense tensor of a supported type in the first shard")
    shape = [dict(_fields(dim)).get(1, 0) for number, dim in _fields(entry.get(2, b"")) if number == 2]
    offset, size = entry.get(4, 0), entry.get(5, 0)
    return np.frombuffer(data, dtype=dtype, count=size // np.dtype(dtype).itemsize, offset=offset).reshape(shape).copy()
