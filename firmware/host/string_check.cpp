// Host check of the core's String, used by tests/unit/test_firmware_logic.py: reads one
// hex-encoded text per line on stdin and prints "<toInt()> <trim() as hex|->" per line.
#include <stdio.h>
#include <stdlib.h>

#include "core/WString.h"

int main() {
  static char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    String text;
    for (size_t i = 0; line[i] && line[i + 1] && line[i] != '\n'; i += 2) {
      char pair[3] = {line[i], line[i + 1], 0};
      text += (char)strtol(pair, NULL, 16);
    }
    long value = text.toInt();
    text.trim();
    printf("%ld ", value);
    if (text.length() == 0) printf("-");
    for (unsigned int i = 0; i < text.length(); i++) printf("%02x", (unsigned char)text[i]);
    printf("\n");
  }
  return 0;
}
