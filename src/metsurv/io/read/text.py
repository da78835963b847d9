"""Delimited text (CSV/TSV/.txt): encoding, delimiter and decimal detection, a bounded
header line, every cell kept as the string written, and the file line of every record."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from metsurv.io.read._common import (
    _CHUNK,
    _DELIM_NAMES,
    _DELIMITERS,
    _HEAD_BYTES,
    RawTable,
    _check_columns,
    _finish,
    _head,
    _kind_of,
    _limit,
)
from metsurv.io.read.errors import brief, refusal, unreadable, wrong_format

# delimited text
# --------------------------------------------------------------------------------------


@dataclass
class _TextScan:
    sha256: str
    size: int
    utf8: bool
    has_c1: bool  # bytes 0x80-0x9F (cp1252 punctuation when the file is not UTF-8)
    has_nul: bool
    newlines: int  # number of b"\n"
    trailing_newlines: int  # b"\n" in the run of CR/LF at the very end
    lone_cr: bool  # a CR not followed by LF (old Mac line ends, or stray CRs)


def _scan_text(path: Path, name: str, check_utf8: bool) -> _TextScan:
    """One streaming pass: checksum, UTF-8 validity, NUL bytes, line count."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")() if check_utf8 else None
    utf8 = check_utf8
    has_c1 = has_nul = False
    newlines = size = crs = crlfs = 0
    tail = b""
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                size += len(chunk)
                digest.update(chunk)
                newlines += chunk.count(b"\n")
                if not has_nul and b"\x00" in chunk:
                    has_nul = True
                if b"\r" in chunk or tail.endswith(b"\r"):
                    crs += chunk.count(b"\r")
                    crlfs += chunk.count(b"\r\n") + (tail.endswith(b"\r")
                                                     and chunk.startswith(b"\n"))
                if utf8:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
                if not utf8 and not has_c1 and _has_c1(chunk):
                    has_c1 = True
                tail = chunk[-4096:] if len(chunk) >= 4096 else (tail + chunk)[-4096:]
            if utf8:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
            if not utf8 and not has_c1 and check_utf8:
                # the C1 check only started once UTF-8 failed: redo it from the start
                fh.seek(0)
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    if _has_c1(chunk):
                        has_c1 = True
                        break
    except OSError as exc:
        raise unreadable(name, exc) from exc
    stripped = tail.rstrip(b"\r\n")
    trailing = tail[len(stripped):].count(b"\n")
    return _TextScan(digest.hexdigest(), size, utf8, has_c1, has_nul, newlines, trailing,
                     crs != crlfs)


_C1 = [bytes([b]) for b in range(0x80, 0xA0)]


def _has_c1(chunk: bytes) -> bool:
    """Any byte 0x80-0x9F (cp1252 punctuation such as the euro sign, dashes and quotes)."""
    return any(b in chunk for b in _C1)  # memchr per byte value: far faster than a regex




def _text_head(path: Path, name: str, enc: str) -> tuple[str, int]:
    """The start of the file as text: the whole header line, however long, plus about
    :data:`_HEAD_BYTES` more (cut at a line end), and the header's length in bytes.

    The header ends at the first line break outside double quotes (after any blank lines);
    reading stops there, or with a CohortError at :data:`MAX_HEADER_BYTES`.
    """
    limit = _limit("MAX_HEADER_BYTES", name)
    decoder = codecs.getincrementaldecoder(enc)(errors="replace")
    text = ""
    consumed = 0
    header_end = -1  # index in text just after the header's line break
    scan_from = -1  # where to look for the header's end; -1: only blank lines seen so far
    quotes = 0  # double quotes seen between the header's start and scan_from
    eof = False
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(max(_HEAD_BYTES, consumed))  # doubling: linear in the header
                eof = not chunk
                text += decoder.decode(chunk, final=eof)
                consumed += len(chunk)
                if header_end < 0:
                    if scan_from < 0:  # blank lines before the header are skipped
                        start = len(text) - len(text.lstrip("\ufeff\r\n"))
                        scan_from = start if start < len(text) else -1
                    if scan_from >= 0:
                        header_end, scan_from, quotes = _line_end(text, scan_from, quotes)
                    if header_end < 0 and consumed > limit:
                        raise refusal(name, f"the header line is longer than {limit >> 20} MiB (or "
                                      "has a quote that is never closed), so this is not a "
                                      "delimited " "table metsurv can read", "check the file, or "
                                      "raise the limit with " "the environment variable "
                                      "METSURV_MAX_HEADER_BYTES")
                if eof or (header_end >= 0 and consumed >= _HEAD_BYTES
                           and len(text) - header_end >= _HEAD_BYTES // 2):
                    break
    except OSError as exc:
        raise unreadable(name, exc) from exc
    if not eof:  # drop a partial last line; the header itself is always kept whole
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut + 1 > max(header_end, 0):
            text = text[: cut + 1]
    header_bytes = len(text[: header_end if header_end >= 0 else len(text)].encode(
        "utf-8", errors="replace"))
    return text, header_bytes


def _line_end(text: str, pos: int, quotes: int) -> tuple[int, int, int]:
    """First line break at or after ``pos`` with an even number of double quotes before
    it (so outside a quoted value); (index after it or -1, where to resume, quotes seen)."""
    while True:
        nl = min((i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0),
                 default=-1)
        if nl < 0:
            return -1, len(text), quotes + text.count('"', pos)
        quotes += text.count('"', pos, nl)
        if quotes % 2 == 0:
            end = nl + 1
            if text[nl] == "\r" and text[end:end + 1] == "\n":
                end += 1
            return end, end, quotes
        pos = nl + 1




def _sniff_delimiter(text: str, preferred: str | None) -> str:
    """Pick the candidate that splits the head into the most consistent, widest rows."""
    lines = text.splitlines(keepends=True)
    sample = "".join(lines[:200])
    complete = len(lines) <= 200 and text.endswith(("\n", "\r"))
    order = list(_DELIMITERS)
    if preferred in order:
        order.remove(preferred)
        order.insert(0, preferred)
    best: tuple | None = None
    best_delim = None
    for rank, d in enumerate(order):
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=d, quotechar='"')
            rows = [r for r in reader if r]
        except csv.Error:
            continue
        if not complete and len(rows) > 2:
            rows = rows[:-1]  # the last line of a cut head may be partial
        if not rows:
            continue
        counts: dict[int, int] = {}
        for r in rows[1:] or rows:
            counts[len(r)] = counts.get(len(r), 0) + 1
        width, hits = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        if width < 2:
            continue
        fraction = hits / sum(counts.values())
        score = (len(rows[0]) == width, round(fraction, 2), width, -rank)
        if best is None or score > best:
            best, best_delim = score, d
    if best_delim is not None:
        return best_delim
    try:
        return csv.Sniffer().sniff(sample[:20000], delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return preferred or ","


_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
_DECIMAL_POINT = re.compile(r"^\s*-?\d+\.\d+\s*$")


def _sniff_decimal(text: str, delim: str) -> str:
    if delim == ",":
        return "."
    commas = points = 0
    lines = text.splitlines()[1:500]
    try:
        for row in csv.reader(lines, delimiter=delim, quotechar='"'):
            for cell in row:
                if _DECIMAL_COMMA.match(cell):
                    commas += 1
                elif _DECIMAL_POINT.match(cell):
                    points += 1
    except csv.Error:
        return "."
    return "," if commas > points else "."


def _resolve_encoding(scan: _TextScan, head: bytes, name: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        if scan.utf8:
            return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if scan.utf8:
        return "utf-8"
    return "cp1252" if scan.has_c1 and _cp1252_ok(head) else "latin-1"


def _cp1252_ok(head: bytes) -> bool:
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _read_csv(path: Path, name: str, *, encoding: str | None, delimiter: str | None,
              decimal: str | None) -> RawTable:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError) as exc:
            raise refusal(name, f"the encoding {encoding!r} is unknown",
                          "pass e.g. 'utf-8', 'latin-1' or 'cp1252', or leave it unset "
                          "to detect it") from exc
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in '"\r\n'):
        raise refusal(name, f"the delimiter must be a single character such as ',' ';' '\\t' or "
                      f"'|' " f"(got {delimiter!r})", "pass one of those or leave it unset to "
                      "detect it")
    if decimal is not None and decimal not in (".", ","):
        raise refusal(name, f"the decimal mark must be '.' or ',' (got {decimal!r})",
                      "pass one of those or leave it unset to detect it")

    head = _head(path, name)
    kind = _kind_of(head)
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        encoding is not None and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    )
    if not utf16 and kind not in ("text",):
        raise wrong_format(name, "csv", kind)
    scan = _scan_text(path, name, check_utf8=encoding is None and not utf16)
    if scan.has_nul and not utf16:
        raise wrong_format(name, "csv", "binary")
    enc = encoding or _resolve_encoding(scan, head, name)
    if encoding is None and not scan.utf8 and not utf16 and len(head) >= 64 and (
            sum(head.count(bytes([b])) for b in range(0x80, 0x100)) > 0.3 * len(head)):
        # latin-1 decodes any byte, but real text is not one third accented letters
        raise refusal(name, "the file is not delimited text (its bytes are neither UTF-8 nor "
                      "plausible latin-1/cp1252 text)", "export the table again as CSV, or pass "
                      "encoding=... if it is text in another encoding")

    text_head, header_bytes = _text_head(path, name, enc)
    if not text_head.strip().strip("\ufeff").strip():
        raise refusal(name, "the file contains only blank lines", "export the table again with a "
                      "header row and records")
    preferred = "\t" if path.suffix.lower() in (".tsv", ".tab") else None
    delim = delimiter or _sniff_delimiter(text_head, preferred)
    dec = decimal or _sniff_decimal(text_head, delim)

    header = _header_of(text_head, delim)
    if len(header) > 1 and header[-1].strip() == "":
        _check_columns(header[:-1], name)  # a trailing delimiter: checked after reading
    else:
        _check_columns(header, name)  # fail fast on blank or duplicated names

    data = None
    if codecs.lookup(enc).name not in ("utf-8", "utf-8-sig"):
        data, enc = _transcode(path, name, enc, user_given=encoding is not None)
    frame, simple = _parse_csv(path, name, enc, delim, header, data,
                               block_size=max(_CHUNK, 4 * header_bytes))
    del data
    frame = _drop_trailing_empty_column(frame)
    frame = _finish(frame, name, check_types=False)

    # Each record on one line, header on line 1, no blank lines: the line count says so
    # (a blank line or a value with a line break adds lines without adding records).
    n = len(frame)
    content_lines = scan.newlines - scan.trailing_newlines + 1
    if simple and not scan.lone_cr and not utf16 and content_lines == n + 1:
        rows = np.arange(2, n + 2, dtype=np.int64)
    else:
        rows = _record_lines(path, name, enc, delim, n)
    return RawTable(frame=frame, source=name, format="csv", rows=rows, sha256=scan.sha256,
                    encoding=enc, delimiter=delim, decimal=dec)


def _header_of(text_head: str, delim: str) -> list[str]:
    reader = csv.reader(io.StringIO(text_head, newline=""), delimiter=delim, quotechar='"')
    try:
        for row in reader:
            if row:
                return row
    except csv.Error:
        pass
    return []


def _drop_trailing_empty_column(frame: pd.DataFrame) -> pd.DataFrame:
    """A delimiter at the end of every line makes a nameless, empty last column: drop it."""
    if frame.shape[1] < 2:
        return frame
    last = frame.columns[-1]
    if str(last).strip().strip("\ufeff").strip() != "":
        return frame
    col = frame.iloc[:, -1]
    if len(col) and not (col.fillna("").astype(str).str.strip() == "").all():
        return frame
    return frame.iloc[:, :-1]


def _transcode(path: Path, name: str, enc: str, user_given: bool) -> tuple[bytes, str]:
    """The file re-encoded as UTF-8 (Arrow's own transcoder is several times slower).

    Holds about two copies of the file for a moment. A cp1252 guess that meets a byte
    cp1252 leaves undefined falls back to latin-1, which decodes every byte.
    """
    while True:
        decoder = codecs.getincrementaldecoder(enc)()
        parts: list[bytes] = []
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    parts.append(decoder.decode(chunk).encode("utf-8"))
                parts.append(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as exc:
            if not user_given and codecs.lookup(enc).name == "cp1252":
                enc = "latin-1"
                continue
            raise refusal(name, f"the file is not valid {enc} text ({brief(exc, 80)})",
                          "pass the " "right encoding (e.g. encoding='cp1252') or leave "
                          "it unset to detect it") from exc
        except OSError as exc:
            raise unreadable(name, exc) from exc
        data = b"".join(parts)
        del parts
        if data.startswith(codecs.BOM_UTF8):  # a UTF-16 BOM, re-encoded
            data = data[len(codecs.BOM_UTF8):]
        return data, enc


def _parse_csv(path: Path, name: str, enc: str, delim: str, header: list[str],
               data: bytes | None = None, block_size: int = _CHUNK
               ) -> tuple[pd.DataFrame, bool]:
    """Parse with pyarrow (all strings); fall back to pandas' C engine. Returns (frame, simple).

    ``data``: the file already transcoded to UTF-8 (for files in other encodings).
    ``block_size``: pyarrow's block, which must hold the header line and any one record.
    """
    import pyarrow as pa
    from pyarrow import csv as pacsv

    first_error: Exception | None = None
    for newlines_in_values in (False, True):
        try:
            if data is not None:
                stream = pa.BufferReader(data)
            else:
                stream = pa.OSFile(str(path.resolve()))  # a local file: no URI, no unzip
            table = pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(encoding="utf8", block_size=block_size),
                parse_options=pacsv.ParseOptions(
                    delimiter=delim, quote_char='"', double_quote=True, escape_char=False,
                    newlines_in_values=newlines_in_values, ignore_empty_lines=True,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in header},
                    null_values=[], true_values=[], false_values=[],
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowException, UnicodeError, ValueError, OSError) as exc:
            first_error = first_error or exc
            continue
        if table.num_columns != len(header) or not all(
                t == pa.string() or t == pa.large_string() for t in table.schema.types):
            first_error = first_error or ValueError("column types")
            break
        names = list(table.column_names)
        table = table.rename_columns([f"c{i}" for i in range(len(names))])
        frame = table.to_pandas(types_mapper=_string_mapper(), self_destruct=True,
                                split_blocks=True)
        del table
        frame.columns = names
        return frame, True
    # pyarrow could not: find a ragged line (names it), else try pandas' C engine
    _raise_if_ragged(path, name, enc, delim, len(header))
    try:
        frame = pd.read_csv(
            path, sep=delim, dtype=str, keep_default_na=False, na_filter=False,
            encoding=enc, engine="c", quotechar='"', doublequote=True, skip_blank_lines=True,
        )
    except UnicodeError as exc:
        raise refusal(name, f"the file is not valid {enc} text ({brief(exc, 80)})",
                      "pass the right encoding (e.g. encoding='latin-1') or leave it "
                      "unset to detect it") from exc
    except Exception as exc:
        cause = first_error if first_error is not None else exc
        raise refusal(name, f"the file could not be parsed as "
                      f"{_DELIM_NAMES.get(delim, repr(delim))}" f"-delimited text "
                      f"({brief(cause, 160)})", "check the delimiter and quoting, "
                      "or export the table again") from exc
    frame = frame.astype(pd.ArrowDtype(pa.string()))
    return frame, False


def _string_mapper():
    """Arrow strings stay Arrow strings in pandas (``pd.ArrowDtype(pa.string())``): zero
    copy, where ``"string[pyarrow]"`` would cast every column to large_string."""
    import pyarrow as pa

    mapping = {pa.string(): pd.ArrowDtype(pa.string()),
               pa.large_string(): pd.ArrowDtype(pa.large_string())}
    return mapping.get


def _iter_csv_records(path: Path, enc: str, delim: str, strict: bool = False,
                      position: list[int] | None = None):
    """Yield (start_line, row) for every non-blank record, header included.

    ``position[0]`` is kept at the last line consumed, so after a csv.Error the failing
    record started on line ``position[0] + 1``.
    """
    position = position if position is not None else [0]
    with open(path, encoding=enc, newline="", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=delim, quotechar='"', doublequote=True, strict=strict)
        for row in reader:
            start = position[0] + 1
            position[0] = reader.line_num
            if not row:
                continue
            yield start, row


def _raise_if_ragged(path: Path, name: str, enc: str, delim: str, width: int) -> None:
    try:
        records = _iter_csv_records(path, enc, delim)
        next(records, None)  # header
        for line, row in records:
            if len(row) != width:
                raise refusal(name, f"line {line} has {len(row)} "
                              f"field{'s' if len(row) != 1 else ''} " f"but the header has {width} "
                              f"({_DELIM_NAMES.get(delim, repr(delim))}-" "delimited)",
                              "fix that line (a stray delimiter or an unclosed quote?) "
                              "and read the file again")
    except (csv.Error, UnicodeError, OSError):
        return


def _record_lines(path: Path, name: str, enc: str, delim: str, n: int) -> np.ndarray:
    """Line numbers of the records' first lines, for files with blank lines or multi-line
    quoted values (header excluded). Also catches a quote left open until the end."""
    for strict in (True, False):
        lines = np.empty(n, dtype=np.int64)
        i = 0
        position = [0]
        try:
            records = _iter_csv_records(path, enc, delim, strict=strict, position=position)
            next(records, None)
            for line, _ in records:
                if i >= n:
                    i += 1
                    break
                lines[i] = line
                i += 1
        except csv.Error as exc:
            if strict and "unexpected end of data" in str(exc):
                raise refusal(name, f"the record starting on line {position[0] + 1} opens a quote "
                              "that is never closed, so " "the rest of the file reads as one value",
                              "close the quote (or double " "the quote character inside "
                              "values) and read the file again") from exc
            continue
        except (UnicodeError, OSError):
            break
        if i == n:
            return lines
        break
    # the two parsers disagree: fall back to the simple numbering
    return np.arange(2, n + 2, dtype=np.int64)


# --------------------------------------------------------------------------------------
