// Time, pins and the ADC: levels kept in memory, changes reported on the serial line.
#include <time.h>

#include <map>
#include <string>

#include "Arduino.h"
#include "host_core.h"

namespace {

std::map<int, int> levels;  // pins set by pinMode or written
std::map<int, int> adcValues;

unsigned long long nowMicros() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
}

const unsigned long long bootMicros = nowMicros();

}  // namespace

unsigned long micros() { return (unsigned long)(nowMicros() - bootMicros); }
unsigned long millis() { return (unsigned long)((nowMicros() - bootMicros) / 1000ULL); }

// Waiting serves the serial line, so control lines work while the sketch sleeps.
void delay(unsigned long ms) {
  unsigned long start = millis();
  for (;;) {
    unsigned long elapsed = millis() - start;
    if (elapsed >= ms) break;
    unsigned long left = ms - elapsed;
    hostcore::pump(left > 50 ? 50 : (int)left);
  }
}

void delayMicroseconds(unsigned int us) {
  unsigned long long until = nowMicros() + us;
  while (nowMicros() < until) {
  }
}

void yield() { hostcore::pump(0); }

void pinMode(uint8_t pin, uint8_t mode) {
  if (!levels.count(pin)) levels[pin] = mode == INPUT_PULLUP ? HIGH : LOW;
}

void digitalWrite(uint8_t pin, uint8_t level) {
  int value = level ? HIGH : LOW;
  auto it = levels.find(pin);
  if (it != levels.end() && it->second == value) return;
  levels[pin] = value;
  hostcore::emitLine("#HW pin pin=" + std::to_string(pin) + " level=" + std::to_string(value) +
                     " ms=" + std::to_string(millis()));
}

int digitalRead(uint8_t pin) {
  auto it = levels.find(pin);
  return it == levels.end() ? LOW : it->second;
}

int analogRead(uint8_t pin) {
  auto it = adcValues.find(pin);
  return it == adcValues.end() ? 0 : it->second;
}

long random(long max) { return max <= 0 ? 0 : (long)(rand() % max); }
long random(long min, long max) { return max <= min ? min : min + random(max - min); }
void randomSeed(unsigned long seed) { srand((unsigned)seed); }

long map(long x, long inMin, long inMax, long outMin, long outMax) {
  if (inMax == inMin) return outMin;
  return (x - inMin) * (outMax - outMin) / (inMax - inMin) + outMin;
}

namespace hostcore {

bool setAdc(int pin, int value) {
  adcValues[pin] = value;
  return true;
}

std::string pinLevels() {
  std::string out;
  for (const auto& kv : levels) out += " p" + std::to_string(kv.first) + "=" + std::to_string(kv.second);
  return out;
}

}  // namespace hostcore
