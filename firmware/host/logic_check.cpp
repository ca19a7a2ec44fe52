// Host build of the shared firmware logic, used by the tests to check that the C++ the boards
// run decides exactly as the Python simulator does. Reads one hex-encoded payload per line on
// stdin and prints "<seed-state> <seed-value> <strict-state> <strict-value|-> " per line;
// with the argument "knob" it prints knobPercent(adc) for adc 0..4095 instead.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../include/alertloop_logic.h"

static size_t unhex(const char* hex, char* out) {
  size_t n = 0;
  for (size_t i = 0; hex[i] && hex[i + 1] && hex[i] != '\n'; i += 2) {
    char pair[3] = {hex[i], hex[i + 1], 0};
    out[n++] = (char)strtol(pair, NULL, 16);
  }
  return n;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "knob") == 0) {
    for (int adc = 0; adc <= alertloop::ADC_MAX; adc++) printf("%d\n", alertloop::knobPercent(adc));
    return 0;
  }
  static char line[8192], payload[4096];
  while (fgets(line, sizeof line, stdin)) {
    size_t len = unhex(line, payload);
    alertloop::LedDecision seed = alertloop::decideLeds(payload, len, true);
    alertloop::LedDecision strict = alertloop::decideLeds(payload, len, false);
    printf("%s %ld %s ", alertloop::ledName(seed.state), seed.value, alertloop::ledName(strict.state));
    if (strict.hasValue) printf("%ld\n", strict.value); else printf("-\n");
  }
  return 0;
}
