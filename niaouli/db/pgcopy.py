"""PostgreSQL binary COPY rows built column by column from Arrow arrays.

`COPY ... (FORMAT binary)` spares the server the parsing of text (hex EWKB above all,
then numbers and dates), which is most of its work in a CSV COPY. Rows are assembled
without a Python loop: each column becomes fixed-width blocks (numpy, big-endian) or
variable-width Arrow binary arrays, and `binary_join_element_wise` concatenates them
row by row in C. The result is the COPY data of the batch, one contiguous buffer.

Row layout: int16 field count, then per field an int32 byte length (-1 for NULL) and the
value in the type's binary send format (big-endian integers and floats, days or
microseconds since 2000-01-01, UTF-8 text, a version byte before JSONB text, EWKB for
PostGIS geometry).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
TRAILER = b"\xff\xff"

PG_EPOCH_DAYS = 10_957  # 1970-01-01 -> 2000-01-01
PG_EPOCH_US = PG_EPOCH_DAYS * 86_400 * 1_000_000
US_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}
NULL_LENGTH = -1


@functools.cache
def _nothing() -> pa.Scalar:
    """The empty separator (made on first use: pyarrow imports pandas to build scalars)."""
    return pa.scalar(b"", pa.large_binary())


# A segment of the row layout: a (n, width) uint8 block, or a binary array (NULL -> b"").
Segment = np.ndarray | pa.Array


class CopyValueError(ValueError):
    """A value that the column's PostgreSQL type cannot hold."""


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


def _valid(array: pa.Array) -> np.ndarray | None:
    """Mask of non-null values, or None when there is no NULL."""
    if array.null_count == 0:
        return None
    return array.is_valid().to_numpy(zero_copy_only=False)


def _lengths(n: int, width: int | np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    lengths = np.empty((n, 1), dtype=">i4")
    lengths[:, 0] = width
    if valid is not None:
        lengths[~valid, 0] = NULL_LENGTH
    return lengths.view(np.uint8)


def _fixed(values: np.ndarray, dtype: str, valid: np.ndarray | None) -> list[Segment]:
    """Length + big-endian value; NULL values become variable-width empty pieces."""
    n = len(values)
    big = np.ascontiguousarray(values, dtype=dtype)
    width = big.dtype.itemsize
    block = big.view(np.uint8).reshape(n, width)
    lengths = _lengths(n, width, valid)
    if valid is None:
        return [lengths, block]
    mask = pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), n, [mask, pa.py_buffer(block)], null_count=int(n - valid.sum())
    )
    return [lengths, data.cast(pa.large_binary())]


def _offsets(array: pa.Array) -> np.ndarray:
    """The n + 1 value offsets of a large_binary array, as int64."""
    buffer = array.buffers()[1]
    offsets = np.frombuffer(buffer, dtype=np.int64, count=array.offset + len(array) + 1)
    return offsets[array.offset :]


def _values(array: pa.Array, offsets: np.ndarray) -> np.ndarray:
    """The bytes of a large_binary array's values, from the first to the last offset."""
    data = array.buffers()[2]
    if data is None:
        return np.empty(0, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]


def _variable(array: pa.Array) -> list[Segment]:
    """Length + bytes of a string/binary array."""
    if not pa.types.is_large_binary(array.type):
        array = array.cast(pa.large_binary())
    n = len(array)
    if n and array.null_count == 0:
        offsets = _offsets(array)
        width = int(offsets[1] - offsets[0])
        if width <= 0x7FFFFFFF and (np.diff(offsets) == width).all():
            if width == 0:  # only empty values ("" in every row): lengths, no bytes
                return [_lengths(n, 0, None)]
            # Values all of one size (points): a fixed block, joined with its neighbours.
            return [_lengths(n, width, None), _values(array, offsets).reshape(n, width)]
    lengths = pc.binary_length(array).to_numpy(zero_copy_only=False)
    if array.null_count:
        lengths = np.where(array.is_valid().to_numpy(zero_copy_only=False), lengths, NULL_LENGTH)
    if len(lengths) and lengths.max(initial=0) > 0x7FFFFFFF:
        raise CopyValueError("valeur de plus de 2 Go")
    return [_lengths(len(array), lengths, None), array]


def _integers(array: pa.Array) -> np.ndarray:
    if array.null_count:
        array = array.fill_null(0)
    if pa.types.is_unsigned_integer(array.type) and array.type.bit_width == 64:
        values = array.to_numpy(zero_copy_only=False)
        if len(values) and values.max() > np.iinfo(np.int64).max:
            raise CopyValueError("entier supérieur à 9223372036854775807")
    return array.cast(pa.int64(), safe=False).to_numpy(zero_copy_only=False)


def _floats(array: pa.Array) -> np.ndarray:
    if not pa.types.is_float64(array.type):
        # Decimals and float32 as their shortest decimal text then parsed (correctly
        # rounded), as PostgreSQL did with text: a float32 0.1 is stored as 0.1.
        array = array.cast(pa.string()).cast(pa.float64())
    return array.fill_null(0.0).to_numpy(zero_copy_only=False)


def _microseconds(values: np.ndarray, unit: str) -> np.ndarray:
    """int64 counts in `unit` -> microseconds, nanoseconds rounded half to even."""
    if unit == "ns":
        quotient, remainder = np.divmod(values, 1000)
        up = (remainder > 500) | ((remainder == 500) & (quotient % 2 == 1))
        return quotient + up
    return values * US_PER[unit]


def _counts(array: pa.Array) -> np.ndarray:
    """The integers under a temporal array (NULL as 0), as int64."""
    storage = pa.int32() if array.type.bit_width == 32 else pa.int64()
    return array.cast(storage).fill_null(0).to_numpy().astype(np.int64, copy=False)


def is_naive_datetime(arrow_type: pa.DataType) -> bool:
    """Date-times without a zone: PostgreSQL reads them in the session's time zone."""
    return pa.types.is_date64(arrow_type) or (
        pa.types.is_timestamp(arrow_type) and arrow_type.tz is None
    )


def column_segments(array: pa.Array | pa.ChunkedArray, pg_type: str) -> list[Segment]:
    """The COPY fields of one column, for the PostgreSQL type of its table column.

    `timestamp` is for zone-less date-times, loaded as they are and converted to
    `timestamptz` by the server, the way it reads zone-less text.
    """
    array = _plain(array)
    n = len(array)
    if pa.types.is_null(array.type):
        return [_lengths(n, NULL_LENGTH, None)]
    valid = _valid(array)
    if pg_type == "bigint":
        return _fixed(_integers(array), ">i8", valid)
    if pg_type == "double precision":
        return _fixed(_floats(array), ">f8", valid)
    if pg_type == "boolean":
        values = array.fill_null(False).to_numpy(zero_copy_only=False)
        return _fixed(values.astype(np.uint8), "u1", valid)
    if pg_type == "date":
        return _fixed(_counts(array.cast(pa.date32())) - PG_EPOCH_DAYS, ">i4", valid)
    if pg_type in ("timestamptz", "timestamp"):
        if pa.types.is_date64(array.type):
            array = array.cast(pa.timestamp("ms"))
        micro = _microseconds(_counts(array), array.type.unit)
        return _fixed(micro - PG_EPOCH_US, ">i8", valid)
    if pg_type == "time":
        return _fixed(_microseconds(_counts(array), array.type.unit), ">i8", valid)
    if pg_type in ("text", "bytea", "geometry"):
        return _variable(array)
    if pg_type == "jsonb":
        version = pa.scalar(b"\x01", pa.large_binary())
        text = array.cast(pa.large_binary())
        return _variable(pc.binary_join_element_wise(version, text, _nothing()))
    raise ValueError(f"type PostgreSQL sans encodage binaire ici : {pg_type}")


def _block(run: list[np.ndarray]) -> np.ndarray:
    """Fixed-width blocks side by side, copied as whole fields (not byte by byte)."""
    run = [block for block in run if block.shape[1]] or run[:1]  # no zero-width field
    if len(run) == 1:
        return run[0]
    n = run[0].shape[0]
    out = np.empty((n, sum(block.shape[1] for block in run)), dtype=np.uint8)
    at = 0
    for block in run:
        width = block.shape[1]
        field = np.dtype(f"V{width}")
        out[:, at : at + width].view(field)[:, 0] = np.ascontiguousarray(block).view(field)[:, 0]
        at += width
    return out


def _merge(segments: list[Segment]) -> list[Segment]:
    """Adjacent fixed-width blocks joined into one (fewer pieces to concatenate)."""
    merged: list[Segment] = []
    run: list[np.ndarray] = []
    for segment in segments:
        if isinstance(segment, np.ndarray):
            run.append(segment)
            continue
        if run:
            merged.append(_block(run))
            run = []
        merged.append(segment)
    if run:
        merged.append(_block(run))
    return merged


def _as_arrow(segment: Segment) -> pa.Array:
    if isinstance(segment, pa.Array):
        return (
            segment if pa.types.is_large_binary(segment.type) else segment.cast(pa.large_binary())
        )
    n, width = segment.shape
    block = np.ascontiguousarray(segment)
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), n, [None, pa.py_buffer(block)]
    ).cast(pa.large_binary())


def encode_rows(columns: Sequence[list[Segment]], n: int) -> memoryview:
    """The COPY data of `n` rows made of `columns` (from `column_segments`)."""
    if n == 0:  # an empty batch: nothing to send (numpy cannot view a 0-row block)
        return memoryview(b"")
    count = np.full((n, 1), len(columns), dtype=">i2").view(np.uint8)
    segments = _merge([count, *(s for column in columns for s in column)])
    if len(segments) == 1:
        return memoryview(np.ascontiguousarray(segments[0])).cast("B")
    rows = pc.binary_join_element_wise(
        *(_as_arrow(s) for s in segments),
        _nothing(),
        null_handling="replace",
        null_replacement=b"",
    )
    if not pa.types.is_large_binary(rows.type):
        rows = rows.cast(pa.large_binary())
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=rows.offset + n + 1)
    start = offsets[rows.offset]
    end = offsets[rows.offset + n]
    return memoryview(rows.buffers()[2]).cast("B")[start:end]


def _splice(data: np.ndarray, sizes: np.ndarray, srid: int) -> tuple[np.ndarray, np.ndarray]:
    """EWKB bytes of consecutive WKB values, and the flag bytes as they were."""
    srid_le = np.frombuffer(srid.to_bytes(4, "little"), dtype=np.uint8)
    srid_be = np.frombuffer(srid.to_bytes(4, "big"), dtype=np.uint8)
    size = int(sizes[0])
    if (sizes == size).all():
        rows = data.reshape(-1, size)
        little = rows[:, 0] == 1
        if little.all() or not little.any():
            # Values of one size and byte order (points): a 2D block, copied by field.
            flag_at, srid_bytes = (4, srid_le) if little[0] else (1, srid_be)
            srids = np.broadcast_to(srid_bytes, (len(rows), 4))
            out = _block([rows[:, :5], srids, rows[:, 5:]])
            flags = out[:, flag_at].copy()
            out[:, flag_at] |= 0x20
            return out.ravel(), flags
    starts = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    little = data[starts] == 1
    flag_at = starts + np.where(little, 4, 1)  # high byte of the uint32 type
    flags = data[flag_at]
    data = data.copy()
    data[flag_at] = flags | 0x20
    srid_bytes = np.where(little[:, None], srid_le, srid_be)
    return np.insert(data, np.repeat(starts + 5, 4), srid_bytes.ravel()), flags


def ewkb(wkb: pa.Array | pa.ChunkedArray, srid: int) -> pa.Array:
    """WKB -> PostGIS EWKB: the SRID flag set in the outer type, 4 SRID bytes after it.

    Only the header of each value changes (parts of collections carry no SRID), so this
    is a vectorised splice of the values' bytes, whatever the geometry types.
    """
    wkb = _plain(wkb)
    if isinstance(wkb, pa.ExtensionArray):  # geoarrow.wkb
        wkb = wkb.storage
    if not pa.types.is_large_binary(wkb.type):
        wkb = wkb.cast(pa.large_binary())
    n = len(wkb)
    valid = _valid(wkb)
    present = pc.drop_null(wkb) if valid is not None else wkb  # compact values
    if len(present) == 0:
        return wkb
    offsets = _offsets(present)
    sizes = np.diff(offsets)
    if (sizes < 5).any():
        raise CopyValueError("géométrie WKB tronquée")
    body, flags = _splice(_values(present, offsets), sizes, srid)
    if (flags & 0x20).any():
        raise CopyValueError("géométrie déjà en EWKB")
    lengths = np.zeros(n, dtype=np.int64)
    if valid is None:
        lengths[:] = sizes + 4
    else:
        lengths[valid] = sizes + 4
    new_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    mask = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        n,
        [mask, pa.py_buffer(new_offsets), pa.py_buffer(body)],
        null_count=wkb.null_count,
    )
