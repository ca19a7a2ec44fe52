// Arduino's IPAddress: four bytes that print as a dotted quad.
#pragma once

#include <stdint.h>

#include "Print.h"

class IPAddress : public Printable {
 public:
  IPAddress() : IPAddress(0, 0, 0, 0) {}
  IPAddress(uint8_t a, uint8_t b, uint8_t c, uint8_t d) : bytes_{a, b, c, d} {}
  uint8_t operator[](int i) const { return bytes_[i & 3]; }
  size_t printTo(Print& p) const override {
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
      if (i) n += p.print('.');
      n += p.print((unsigned int)bytes_[i]);
    }
    return n;
  }

 private:
  uint8_t bytes_[4];
};
