// Control lines: "#HW <command> key=value ..." sent on the serial line, answered on it.
#include <stdio.h>
#include <stdlib.h>

#include <map>
#include <string>
#include <vector>

#include "Arduino.h"
#include "host_core.h"

namespace hostcore {
namespace {

struct Command {
  std::string name;
  std::map<std::string, std::string> fields;
};

std::string trimmed(const std::string& s) {
  size_t start = s.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(start, end - start + 1);
}

// Words split on spaces; a value may be a double-quoted string with backslash escapes.
bool parse(const std::string& text, Command& out, std::string& error) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        word += text[++i];
      } else if (c == '"') {
        quoted = false;
      } else {
        word += c;
      }
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ' ' || c == '\t') {
      if (any) words.push_back(word);
      word.clear();
      any = false;
    } else {
      word += c;
      any = true;
    }
  }
  if (quoted) {
    error = "unterminated quote";
    return false;
  }
  if (any) words.push_back(word);
  if (words.size() < 2) {
    error = "no command";
    return false;
  }
  out.name = words[1];
  for (size_t i = 2; i < words.size(); i++) {
    size_t eq = words[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      error = "field '" + words[i] + "' is not key=value";
      return false;
    }
    out.fields[words[i].substr(0, eq)] = words[i].substr(eq + 1);
  }
  return true;
}

bool toLong(const std::string& text, long& value) {
  if (text.empty()) return false;
  char* end = NULL;
  value = strtol(text.c_str(), &end, 10);
  return *end == '\0';
}

void error(const std::string& reason) { emitLine("#HW error reason=" + fieldValue(reason)); }

void adc(Command& cmd) {
  long pin, value;
  if (!toLong(cmd.fields["pin"], pin) || !toLong(cmd.fields["value"], value)) {
    error("adc needs pin=<number> value=<number>");
    return;
  }
  if (value < 0 || value > ALERTLOOP_ADC_MAX || pin < 0 || pin > 255) {
    error("adc value must be 0.." + std::to_string(ALERTLOOP_ADC_MAX) + " on a pin 0..255");
    return;
  }
  setAdc((int)pin, (int)value);
  emitLine("#HW adc pin=" + std::to_string(pin) + " value=" + std::to_string(value));
}

void wifi(Command& cmd) {
  const std::string& state = cmd.fields["state"];
  long forMs = 0;
  if (cmd.fields.count("for_ms") && (!toLong(cmd.fields["for_ms"], forMs) || forMs <= 0)) {
    error("for_ms must be a positive number of milliseconds");
    return;
  }
  if (state != "up" && state != "down") {
    error("wifi needs state=up or state=down");
    return;
  }
  if (state == "up" && forMs) {
    error("for_ms goes with state=down");
    return;
  }
  emitLine("#HW wifi state=" + state);
  setWifi(state == "up", forMs);
}

void status() {
  emitLine(std::string("#HW status board=") + ALERTLOOP_BOARD + " wifi=" + (wifiUp() ? "up" : "down") +
           " mqtt=" + std::to_string(mqttState()) + " ms=" + std::to_string(millis()));
}

}  // namespace

std::string fieldValue(const std::string& value) {
  bool plain = true;
  for (char c : value) {
    if (!(isalnum((unsigned char)c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' ||
          c == '-' || c == '@')) {
      plain = false;
    }
  }
  if (plain) return value;
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += (char)c;
    } else if (c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += (char)c;
    }
  }
  return out + "\"";
}

void handleControlLine(const std::string& line) {
  Command cmd;
  std::string why;
  if (!parse(trimmed(line), cmd, why)) {
    error(why);
    return;
  }
  if (cmd.name == "adc") {
    adc(cmd);
  } else if (cmd.name == "pins") {
    emitLine("#HW pins" + pinLevels());
  } else if (cmd.name == "wifi") {
    wifi(cmd);
  } else if (cmd.name == "status") {
    status();
  } else {
    error("unknown command '" + cmd.name + "' (adc, pins, wifi, status)");
  }
}

}  // namespace hostcore
