// Serial: the board's console, here stdin/stdout or a pseudo-terminal (see host_serial.cpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "Print.h"
#include "WString.h"

class HardwareSerial : public Print {
 public:
  void begin(unsigned long baud);
  void begin(unsigned long baud, uint32_t config);
  void end() {}
  int available();
  int read();
  int peek();
  void flush();
  size_t write(uint8_t c) override;
  size_t write(const uint8_t* buffer, size_t size) override;
  using Print::write;
  void setTimeout(unsigned long ms) { timeoutMs_ = ms; }
  String readStringUntil(char terminator);
  String readString();
  operator bool() const { return true; }

 private:
  int timedRead();
  unsigned long timeoutMs_ = 1000;
};

extern HardwareSerial Serial;
