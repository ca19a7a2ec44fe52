// alertloop firmware logic shared by the sketches and the host build: no Arduino headers here,
// so the same decisions are compiled for the boards and checked on the host against the
// Python simulator (tests/unit/test_firmware_logic.py).
#pragma once

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

namespace alertloop {

const int ADC_MAX = 4095;

// The seed's knob value: (analogRead * 100) / 4095 in integer arithmetic.
inline int knobPercent(int adc) {
  if (adc < 0) adc = 0;
  if (adc > ADC_MAX) adc = ADC_MAX;
  return (adc * 100) / ADC_MAX;
}

// Arduino String::toInt(): atol() on a 32-bit long (skip C whitespace, optional sign, digits
// up to the first non-digit, no digits gives 0, clamp to the long range like strtol).
inline long arduinoToInt(const char* data, size_t len) {
  size_t i = 0;
  while (i < len && (data[i] == ' ' || (data[i] >= '\t' && data[i] <= '\r'))) i++;
  int sign = 1;
  if (i < len && (data[i] == '+' || data[i] == '-')) {
    if (data[i] == '-') sign = -1;
    i++;
  }
  long long value = 0;
  bool clamped = false;
  for (; i < len && data[i] >= '0' && data[i] <= '9'; i++) {
    if (!clamped) {
      value = value * 10 + (data[i] - '0');
      if (value > 2147483648LL) clamped = true;
    }
  }
  value *= sign;
  if (clamped || value > 2147483647LL) value = sign > 0 ? 2147483647LL : -2147483648LL;
  if (value < -2147483648LL) value = -2147483648LL;
  return (long)value;
}

enum LedState { LED_OFF = 0, LED_RED = 1, LED_GREEN = 2, LED_ERROR = 3 };

struct LedDecision {
  LedState state;
  bool hasValue;
  long value;
  const char* reason;  // NULL when the payload was understood
};

// What the LED board does with one /alert payload. seedCompat reproduces the seed sketch
// exactly (toInt: 1 red, 0 green, anything else off; garbage reads as 0, so green). The
// default accepts only "0" and "1" (C whitespace around them allowed); anything else leaves
// both LEDs off in the error state.
inline LedDecision decideLeds(const char* data, size_t len, bool seedCompat) {
  LedDecision d = {LED_OFF, false, 0, NULL};
  if (seedCompat) {
    d.hasValue = true;
    d.value = arduinoToInt(data, len);
    d.state = d.value == 1 ? LED_RED : (d.value == 0 ? LED_GREEN : LED_OFF);
    return d;
  }
  size_t start = 0, end = len;
  while (start < end && (data[start] == ' ' || (data[start] >= '\t' && data[start] <= '\r'))) start++;
  while (end > start && (data[end - 1] == ' ' || (data[end - 1] >= '\t' && data[end - 1] <= '\r'))) end--;
  d.state = LED_ERROR;
  if (start == end) {
    d.reason = "empty payload";
    return d;
  }
  size_t i = start;
  if (data[i] == '+' || data[i] == '-') i++;
  if (i == end) {
    d.reason = "not a number";
    return d;
  }
  for (size_t j = i; j < end; j++) {
    if (data[j] < '0' || data[j] > '9') {
      d.reason = "not a number";
      return d;
    }
  }
  d.hasValue = true;
  d.value = arduinoToInt(data + start, end - start);
  if (d.value != 0 && d.value != 1) {
    d.reason = "neither 0 nor 1";
    return d;
  }
  d.state = d.value == 1 ? LED_RED : LED_GREEN;
  d.reason = NULL;
  return d;
}

inline const char* ledName(LedState s) {
  switch (s) {
    case LED_RED: return "red";
    case LED_GREEN: return "green";
    case LED_ERROR: return "error";
    default: return "off";
  }
}

}  // namespace alertloop
