"""Length-prefixed messages between the grading supervisor and its worker processes.

A frame is 4 bytes of big-endian length, then that many bytes of payload.
Replies from a worker are JSON; the parent never unpickles anything a worker
sends, and a frame that is too long or does not parse is a failure of that
worker, not of the batch.
"""

import json
import os
import struct

MAX_FRAME_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


class BadFrame(Exception):
    """What came over the pipe is not a message of this protocol; the message says why."""


def encode(payload):
    """The frame of ``payload`` (bytes)."""
    if len(payload) > MAX_FRAME_BYTES:
        raise BadFrame(f"a message of {len(payload)} bytes is longer than the protocol allows")
    return _HEADER.pack(len(payload)) + payload


def encode_json(message):
    return encode(json.dumps(message).encode("utf-8"))


def decode_json(payload):
    """The JSON object in ``payload``; :class:`BadFrame` if it is not one."""
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadFrame(f"the message is not JSON ({err})") from err
    if not isinstance(message, dict):
        raise BadFrame("the message is not a JSON object")
    return message


class Reader:
    """Cuts the bytes read from a pipe, as they come, into frames."""

    def __init__(self):
        self.buffer = bytearray()

    def feed(self, data):
        """Add ``data``; return the payloads now complete. :class:`BadFrame` on a bad length."""
        self.buffer += data
        payloads = []
        while len(self.buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self.buffer)
            if length > MAX_FRAME_BYTES:
                raise BadFrame(f"a message announced {length} bytes, more than the protocol allows")
            if len(self.buffer) < _HEADER.size + length:
                break
            payloads.append(bytes(self.buffer[_HEADER.size : _HEADER.size + length]))
            del self.buffer[: _HEADER.size + length]
        return payloads


def read_exactly(fd, count):
    """``count`` bytes from a blocking fd; None at end of file."""
    chunks = bytearray()
    while len(chunks) < count:
        chunk = os.read(fd, count - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def read_frame(fd):
    """The next payload from a blocking fd, or None when the other side closed it."""
    header = read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise BadFrame(f"a message announced {length} bytes, more than the protocol allows")
    return read_exactly(fd, length)


def write_all(fd, data):
    """Write all of ``data`` to a blocking fd."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
