"""A stand-in for the ESP32/ESP8266 ROM serial loader on a pseudo-terminal, for esptool.

It speaks the loader's protocol as esptool does (SLIP frames; a request is direction 0x00,
opcode, length, checksum, data; a response is direction 0x01, opcode, length, value, data,
then status bytes): SYNC, READ_REG/WRITE_REG (the chip is told apart by the magic word at
0x40001000), SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE, FLASH_BEGIN/DATA/END, the
compressed FLASH_DEFL_* variants, and SPI_FLASH_MD5 (the ROM answers it as 32 hex digits).
GET_SECURITY_INFO is refused as the ESP32 and ESP8266 ROMs refuse it. Writes go to an
in-memory flash, so a test can check what esptool wrote and that its verification read back
the right digest. A FLASH_DATA block with a wrong checksum is refused, as the ROM does.

esptool's flasher stub is uploaded to RAM as to a chip (MEM_BEGIN/DATA/END, checksums
checked) and "starts" by greeting ``OHAI``; from then on the fake answers as the stub does
(value 0 to SYNC, two status bytes, a raw 16-byte MD5). The stub's code itself does not run
here: its commands are played by this fake.
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import struct
import threading
import tty
import zlib
from dataclasses import dataclass, field

MAGIC_ADDR = 0x40001000
MAGIC = {"esp32": 0x00F01D83, "esp8266": 0xFFF0C101}
# The ESP32's SPI0 W0 register after a RDID command: a GigaDevice 4 MB flash (c8 40 16).
SPI_W0 = {"esp32": 0x3FF42080, "esp8266": 0x60000240}
FLASH_ID = 0x1640C8
CHECKSUM_MAGIC = 0xEF
INVALID_COMMAND = 0x05
BAD_DATA_CHECKSUM = 0x07
FLASH_SIZE = 4 * 1024 * 1024

SYNC, READ_REG, WRITE_REG = 0x08, 0x0A, 0x09
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
DEFL_BEGIN, DEFL_DATA, DEFL_END = 0x10, 0x11, 0x12
SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE, SPI_FLASH_MD5 = 0x0B, 0x0D, 0x0F, 0x13
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
ACCEPTED = {WRITE_REG, SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE, FLASH_END, DEFL_END}


@dataclass
class _Write:
    offset: int
    block_size: int = 0
    position: int = 0
    inflater: zlib._Decompress | None = None  # type: ignore[name-defined]


@dataclass
class FakeRomLoader:
    """``start()`` opens a pty; esptool opens ``port``. ``flash`` holds what was written."""

    chip: str = "esp32"
    answer: bool = True
    corrupt_md5: bool = False
    flash: bytearray = field(default_factory=lambda: bytearray(b"\xff" * FLASH_SIZE))
    ops: list[int] = field(default_factory=list)
    stub: bool = False  # True once esptool's flasher stub "runs" (MEM_END with an entry)
    ram_bytes: int = 0
    run_app: bool = False  # after the last FLASH_END, print the knob sketch's #AL lines
    _app: threading.Thread | None = None
    port: str = ""
    _master: int = -1
    _slave: int = -1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _write: _Write | None = None

    def start(self) -> FakeRomLoader:
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, name="fake-rom", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in (self._thread, self._app):
            if thread is not None:
                thread.join(5)
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)

    def __enter__(self) -> FakeRomLoader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the wire ------------------------------------------------------------------------
    def _run(self) -> None:
        frame: bytearray | None = None
        escape = False
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                continue
            for byte in chunk:
                if byte == 0xC0:
                    if frame:
                        self._packet(bytes(frame))
                    frame = bytearray()
                elif frame is None:
                    continue  # noise outside a frame
                elif escape:
                    frame.append({0xDC: 0xC0, 0xDD: 0xDB}.get(byte, byte))
                    escape = False
                elif byte == 0xDB:
                    escape = True
                else:
                    frame.append(byte)

    def _send(self, op: int, value: int = 0, data: bytes = b"", error: int = 0) -> None:
        status = bytes([1 if error else 0, error])
        if self.chip == "esp32" and not self.stub:
            status += b"\x00\x00"  # the ESP32 ROM adds two reserved bytes; the stub does not
        body = data + status
        self._frame(struct.pack("<BBHI", 0x01, op, len(body), value) + body)

    def _frame(self, packet: bytes) -> None:
        slipped = packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
        os.write(self._master, b"\xc0" + slipped + b"\xc0")

    # -- the loader ----------------------------------------------------------------------
    def _packet(self, packet: bytes) -> None:
        if len(packet) < 8 or packet[0] != 0x00 or not self.answer:
            return
        op, size, checksum = struct.unpack("<BHI", packet[1:8])
        data = packet[8 : 8 + size]
        self.ops.append(op)
        if op == SYNC:
            for _ in range(8):  # the ROM answers a SYNC eight times (the stub with value 0)
                self._send(SYNC, 0 if self.stub else 0x20120707)
        elif op == MEM_BEGIN:
            self._send(op)
        elif op == MEM_DATA:
            length = struct.unpack("<I", data[:4])[0]
            if _checksum(data[16 : 16 + length]) != checksum:
                self._send(op, error=BAD_DATA_CHECKSUM)
                return
            self.ram_bytes += length
            self._send(op)
        elif op == MEM_END:
            no_run, entry = struct.unpack("<II", data[:8])
            self._send(op)
            if not no_run and entry:
                self.stub = True  # the uploaded stub "starts" and greets
                self._frame(b"OHAI")
        elif op == READ_REG:
            (address,) = struct.unpack("<I", data[:4])
            if address == MAGIC_ADDR:
                self._send(op, MAGIC[self.chip])
            else:
                self._send(op, FLASH_ID if address == SPI_W0[self.chip] else 0)
        elif op in ACCEPTED:
            self._send(op)
            if op in (FLASH_END, DEFL_END) and self.run_app and self._app is None:
                self._app = threading.Thread(target=self._sketch, name="fake-app", daemon=True)
                self._app.start()
        elif op in (FLASH_BEGIN, DEFL_BEGIN):
            _, _, block_size, offset = struct.unpack("<IIII", data[:16])
            inflater = zlib.decompressobj() if op == DEFL_BEGIN else None
            self._write = _Write(offset, block_size, offset, inflater)
            self._send(op)
        elif op in (FLASH_DATA, DEFL_DATA):
            self._data(op, data, checksum)
        elif op == SPI_FLASH_MD5:
            address, length = struct.unpack("<II", data[:8])
            digest = hashlib.md5(bytes(self.flash[address : address + length]))
            if self.corrupt_md5:
                digest = hashlib.md5(b"not what was written")
            # the ROM answers in hex digits, the stub with the 16 bytes
            self._send(op, data=digest.digest() if self.stub else digest.hexdigest().encode())
        else:
            self._send(op, error=INVALID_COMMAND)

    def _sketch(self) -> None:
        """The flashed knob sketch running: a machine line every 0.2 s, as it publishes."""
        seq = 0
        while not self._stop.wait(0.2):
            seq += 1
            _, writable, _ = select.select([], [self._master], [], 0)
            if writable:  # nobody reading: drop the line, as a UART does
                os.write(self._master, f"#AL published value=42 seq={seq}\r\n".encode())

    def _data(self, op: int, data: bytes, checksum: int) -> None:
        length, seq = struct.unpack("<II", data[:8])
        payload = data[16 : 16 + length]
        if self._write is None or _checksum(payload) != checksum or len(payload) != length:
            self._send(op, error=BAD_DATA_CHECKSUM)
            return
        if self._write.inflater is not None:
            chunk = self._write.inflater.decompress(payload)
        else:
            chunk = payload
            self._write.position = self._write.offset + seq * self._write.block_size
        end = self._write.position + len(chunk)
        self.flash[self._write.position : end] = chunk
        self._write.position = end
        self._send(op)


def _checksum(payload: bytes) -> int:
    value = CHECKSUM_MAGIC
    for byte in payload:
        value ^= byte
    return value
