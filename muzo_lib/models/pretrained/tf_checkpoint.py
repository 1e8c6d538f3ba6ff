"""Read a TensorFlow checkpoint (``.index`` + ``.data-*``) in plain Python, without TensorFlow.

A TF1/TF2 "tensor bundle" checkpoint is two files:

- ``<prefix>.index``: a LevelDB-style sorted table (SSTable). Its keys are tensor names;
  each value is a ``BundleEntryProto`` protobuf (dtype, shape, shard, byte offset, size).
  The empty key holds a ``BundleHeaderProto`` (number of shards, endianness).
- ``<prefix>.data-00000-of-00001``: the tensors' raw little-endian bytes, back to back.

Only what the musicnn checkpoints use is supported: uncompressed table blocks, one shard,
whole (unsliced) tensors of the numeric dtypes below. Anything else raises
:class:`CheckpointFormatError` with a one-line reason.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48          # two block handles padded to 40 bytes, then the 8-byte magic
_BLOCK_TRAILER_BYTES = 5    # compression type (1 byte) + masked crc32c (4 bytes)
# tensorflow/core/framework/types.proto DataType -> numpy little-endian dtype
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "|u1", 5: "<i2", 6: "|i1", 9: "<i8", 10: "|b1", 17: "<u2", 19: "<f2"}


class CheckpointFormatError(ValueError):
    """The files are not a TensorFlow checkpoint this reader understands."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointFormatError("truncated varint in checkpoint index")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Decode one protobuf message into ``(field_number, value)`` pairs (varints and byte strings)."""
    fields, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire} in checkpoint index")
        fields.append((number, value))
    return fields


def _block(data: bytes, handle: bytes) -> bytes:
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if offset + size + _BLOCK_TRAILER_BYTES > len(data):
        raise CheckpointFormatError("block handle points past the end of the checkpoint index")
    if data[offset + size] != 0:
        raise CheckpointFormatError("compressed checkpoint index blocks are not supported")
    return data[offset:offset + size]


def _block_entries(block: bytes):
    """Yield ``(key, value)`` from one table block (keys are prefix-compressed against the previous key)."""
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_size, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_size]
        pos += value_size


def read_index(prefix: str | Path) -> dict[str, dict]:
    """Map each tensor name in ``<prefix>.index`` to ``{"dtype", "shape", "shard", "offset", "size"}`` (bytes)."""
    path = Path(f"{prefix}.index")
    if not path.is_file():
        raise CheckpointFormatError(f"no checkpoint index at {path}")
    data = path.read_bytes()
    if len(data) < _FOOTER_BYTES or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise CheckpointFormatError(f"{path} is not a TensorFlow checkpoint index (bad table magic)")
    footer = data[-_FOOTER_BYTES:]
    _, pos = _varint(footer, 0)        # metaindex handle (unused): skip offset and size
    _, pos = _varint(footer, pos)
    index_block = _block(data, footer[pos:])
    entries = {}
    for _, handle in _block_entries(index_block):
        for key, value in _block_entries(_block(data, handle)):
            if key == b"":
                continue                # BundleHeaderProto
            fields = _proto_fields(value)
            entry = {"dtype": 0, "shape": (), "shard": 0, "offset": 0, "size": 0}
            for number, field in fields:
                if number == 1:
                    entry["dtype"] = field
                elif number == 2:
                    entry["shape"] = tuple(
                        next((v for n, v in _proto_fields(dim) if n == 1), 0)
                        for n, dim in _proto_fields(field) if n == 2)
                elif number in (3, 4, 5):
                    entry[{3: "shard", 4: "offset", 5: "size"}[number]] = field
                elif number == 7:
                    raise CheckpointFormatError(f"tensor {key.decode()!r} is stored in slices: not supported")
            entries[key.decode()] = entry
    return entries


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint at ``prefix`` as a numpy array, by its TensorFlow name.

    ``prefix`` is the path without the ``.index`` suffix; for musicnn's checkpoints, whose
    files are named ``.index`` and ``.data-00000-of-00001`` inside a folder, it is
    ``<folder>/`` (the empty file stem).
    """
    tensors = {}
    with open(_data_file(prefix), "rb") as handle:
        for name, entry in read_index(prefix).items():
            if entry["dtype"] not in _DTYPES:
                raise CheckpointFormatError(f"tensor {name!r} has unsupported dtype code {entry['dtype']}")
            if entry["shard"] != 0:
                raise CheckpointFormatError(f"tensor {name!r} is in shard {entry['shard']}: only one shard is supported")
            dtype = np.dtype(_DTYPES[entry["dtype"]])
            count = int(np.prod(entry["shape"], dtype=np.int64))
            if count * dtype.itemsize != entry["size"]:
                raise CheckpointFormatError(f"tensor {name!r}: {entry['size']} bytes do not fit shape {entry['shape']}")
            handle.seek(entry["offset"])
            raw = handle.read(entry["size"])
            if len(raw) != entry["size"]:
                raise CheckpointFormatError(f"tensor {name!r} runs past the end of the data file")
            tensors[name] = np.frombuffer(raw, dtype=dtype).reshape(entry["shape"]).astype(dtype.newbyteorder("="))
    return tensors


def _data_file(prefix: str | Path) -> Path:
    path = Path(f"{prefix}.data-00000-of-00001")
    if not path.is_file():
        raise CheckpointFormatError(f"no single-shard checkpoint data file at {path}")
    return path
