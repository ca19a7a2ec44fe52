// The serial line of the host build: stdin/stdout, or a pseudo-terminal the process creates.
// Input passes through a line filter that takes out control lines ("#HW ...") for the core and
// hands every other byte to the sketch at once. In pty mode output goes through a bounded
// queue that drops the oldest whole lines when nobody reads, so the sketch never blocks.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "Arduino.h"
#include "host_core.h"

HardwareSerial Serial;

namespace hostcore {
namespace {

const size_t RX_LIMIT = 4096;        // bytes the sketch has not read yet (more are lost)
const size_t TX_LIMIT = 64 * 1024;   // pty mode: output kept while nobody reads
const char CONTROL_PREFIX[] = "#HW";
const unsigned long HOLD_MS = 100;   // core lines wait this long for the sketch to end its line

int inFd = 0;
int outFd = 1;
int slaveFd = -1;
bool outputIsQueued = false;
std::deque<char> rx;
std::string tx;
bool sketchAtLineStart = true;
std::vector<std::string> heldLines;  // core lines waiting for the sketch to end its line
unsigned long heldSince = 0;

// Input line filter: at the start of a line, hold bytes while they could still begin
// "#HW "; then either keep the whole line for the core or release it to the sketch.
enum class Filter { LineStart, Sketch, Control };
Filter filter = Filter::LineStart;
std::string held;

volatile sig_atomic_t stopRequested = 0;

void toSketch(char c) {
  if (rx.size() < RX_LIMIT) rx.push_back(c);
}

void releaseHeld() {
  for (char c : held) toSketch(c);
  held.clear();
}

void filterByte(char c) {
  switch (filter) {
    case Filter::LineStart: {
      held += c;
      const size_t n = sizeof(CONTROL_PREFIX) - 1;
      if (held.size() <= n) {
        if (held.compare(0, held.size(), CONTROL_PREFIX, held.size()) != 0 || c == '\n') {
          releaseHeld();
          filter = c == '\n' ? Filter::LineStart : Filter::Sketch;
        }
        return;
      }
      // "#HW" then one more byte: a control line when it is a space or the end of the line.
      if (c == ' ' || c == '\n' || c == '\r') {
        filter = Filter::Control;
        if (c == '\n') {
          filter = Filter::LineStart;
          std::string line = held;
          held.clear();
          handleControlLine(line);
        }
      } else {
        releaseHeld();
        filter = Filter::Sketch;
      }
      return;
    }
    case Filter::Sketch:
      toSketch(c);
      if (c == '\n') filter = Filter::LineStart;
      return;
    case Filter::Control:
      if (c == '\n') {
        filter = Filter::LineStart;
        std::string line = held;
        held.clear();
        handleControlLine(line);
      } else if (held.size() < RX_LIMIT) {
        held += c;
      }
      return;
  }
}

// Keep at most TX_LIMIT bytes: drop the oldest whole lines.
void boundQueue() {
  if (tx.size() <= TX_LIMIT) return;
  size_t cut = tx.size() - TX_LIMIT;
  size_t nl = tx.find('\n', cut);
  tx.erase(0, nl == std::string::npos ? tx.size() : nl + 1);
}

void writeOut(const char* data, size_t len) {
  if (len == 0) return;
  if (!outputIsQueued) {
    while (len > 0) {
      ssize_t n = ::write(outFd, data, len);
      if (n < 0) {
        if (errno == EINTR) continue;
        requestStop();  // nobody reads stdout any more
        return;
      }
      data += n;
      len -= (size_t)n;
    }
    return;
  }
  tx.append(data, len);
  boundQueue();
  while (!tx.empty()) {
    ssize_t n = ::write(outFd, tx.data(), tx.size());
    if (n <= 0) break;  // EAGAIN: the terminal's buffer is full; keep it queued
    tx.erase(0, (size_t)n);
  }
}

void readInput() {
  // One read per readable poll: stdin may be a blocking descriptor.
  char buf[512];
  ssize_t n = ::read(inFd, buf, sizeof buf);
  if (n > 0) {
    for (ssize_t i = 0; i < n; i++) filterByte(buf[i]);
  } else if (n == 0 && !settings().pty) {
    requestStop();  // end of stdin
  }
}

}  // namespace

void serialOpen() {
  if (!settings().pty) {
    inFd = 0;
    outFd = 1;
    return;
  }
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    perror("posix_openpt");
    exit(2);
  }
  const char* path = ptsname(master);
  if (path == NULL) {
    perror("ptsname");
    exit(2);
  }
  std::string slavePath = path;
  // Holding the slave open keeps the line alive while readers come and go.
  slaveFd = open(slavePath.c_str(), O_RDWR | O_NOCTTY);
  if (slaveFd < 0) {
    perror(slavePath.c_str());
    exit(2);
  }
  struct termios tio;
  if (tcgetattr(slaveFd, &tio) == 0) {
    cfmakeraw(&tio);
    tcsetattr(slaveFd, TCSANOW, &tio);
  }
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  inFd = master;
  outFd = master;
  outputIsQueued = true;
  printf("#HW pty path=%s\n", slavePath.c_str());
  fflush(stdout);
  // stdout is never written again; keep it open so the parent sees no early EOF surprise.
}

void requestStop() { stopRequested = 1; }

// A board left behind by a controller that died would retry the broker forever: stop when the
// parent process goes away (the process is then re-parented).
static void watchParent() {
  static const pid_t parent = getppid();
  static unsigned long lastCheck = 0;
  unsigned long now = millis();
  if (now - lastCheck < 250) return;
  lastCheck = now;
  if (getppid() != parent) requestStop();
}

void pump(int timeoutMs, bool withMqtt) {
  watchParent();
  if (stopRequested) stopNow();
  wifiTimers();
  releaseHeldLines(false);
  if (!heldLines.empty() && timeoutMs > (int)HOLD_MS) timeoutMs = (int)HOLD_MS;
  std::vector<struct pollfd> fds;
  fds.push_back({inFd, POLLIN, 0});
  if (outputIsQueued && !tx.empty()) fds[0].events |= POLLOUT;
  if (withMqtt) {
    if (mqttPending()) timeoutMs = 0;
    std::vector<int> sockets;
    mqttSockets(sockets);
    for (int fd : sockets) fds.push_back({fd, POLLIN, 0});
  }
  int n = poll(fds.data(), fds.size(), timeoutMs < 0 ? 0 : timeoutMs);
  if (n > 0) {
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) readInput();
    if (outputIsQueued && !tx.empty()) {
      ssize_t w = ::write(outFd, tx.data(), tx.size());
      if (w > 0) tx.erase(0, (size_t)w);
    }
  }
  if (stopRequested) stopNow();
  wifiTimers();
  releaseHeldLines(false);
}

// Core lines never split a sketch's line: they wait until it ends (at most HOLD_MS, then the
// core ends the line itself).
void emitLine(const std::string& line) {
  if (!sketchAtLineStart) {
    if (heldLines.empty()) heldSince = millis();
    heldLines.push_back(line);
    return;
  }
  std::string out = line + "\r\n";
  writeOut(out.data(), out.size());
}

void releaseHeldLines(bool force) {
  if (heldLines.empty()) return;
  if (!sketchAtLineStart) {
    if (!force && millis() - heldSince < HOLD_MS) return;
    writeOut("\r\n", 2);
    sketchAtLineStart = true;
  }
  std::vector<std::string> lines;
  lines.swap(heldLines);
  for (const std::string& line : lines) emitLine(line);
}

void flushSerial(int timeoutMs) {
  releaseHeldLines(true);
  unsigned long until = millis() + (unsigned long)timeoutMs;
  while (outputIsQueued && !tx.empty() && millis() < until) {
    struct pollfd p = {outFd, POLLOUT, 0};
    if (poll(&p, 1, 10) > 0) {
      ssize_t w = ::write(outFd, tx.data(), tx.size());
      if (w > 0) tx.erase(0, (size_t)w);
    }
  }
}

}  // namespace hostcore

using hostcore::pump;

void HardwareSerial::begin(unsigned long) {}
void HardwareSerial::begin(unsigned long, uint32_t) {}

// The line is read only when the sketch has consumed what it had, so a fast writer is held back
// by the terminal (flow control) rather than overrunning the receive buffer. Bytes that arrive
// while the sketch does not read (it sleeps, or never reads Serial) are dropped beyond
// RX_LIMIT, as a UART overruns.
int HardwareSerial::available() {
  if (hostcore::rx.empty()) pump(0);
  return (int)hostcore::rx.size();
}

int HardwareSerial::read() {
  if (hostcore::rx.empty()) pump(0);
  if (hostcore::rx.empty()) return -1;
  int c = (unsigned char)hostcore::rx.front();
  hostcore::rx.pop_front();
  return c;
}

int HardwareSerial::peek() {
  if (hostcore::rx.empty()) pump(0);
  return hostcore::rx.empty() ? -1 : (unsigned char)hostcore::rx.front();
}

void HardwareSerial::flush() { hostcore::flushSerial(1000); }

size_t HardwareSerial::write(uint8_t c) { return write(&c, 1); }

size_t HardwareSerial::write(const uint8_t* buffer, size_t size) {
  if (size == 0) return 0;
  hostcore::writeOut((const char*)buffer, size);
  hostcore::sketchAtLineStart = buffer[size - 1] == '\n';
  if (hostcore::sketchAtLineStart) hostcore::releaseHeldLines(false);
  return size;
}

int HardwareSerial::timedRead() {
  unsigned long start = millis();
  do {
    int c = read();
    if (c >= 0) return c;
    pump(5);
  } while (millis() - start < timeoutMs_);
  return -1;
}

String HardwareSerial::readStringUntil(char terminator) {
  String out;
  int c;
  while ((c = timedRead()) >= 0 && c != terminator) out += (char)c;
  return out;
}

String HardwareSerial::readString() {
  String out;
  int c;
  while ((c = timedRead()) >= 0) out += (char)c;
  return out;
}
