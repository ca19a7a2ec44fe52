#include "WString.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace {

std::string inBase(unsigned long long n, unsigned char base) {
  if (base < 2 || base > 36) base = 10;
  std::string out;
  do {
    int digit = (int)(n % base);
    out.insert(out.begin(), (char)(digit < 10 ? '0' + digit : 'a' + digit - 10));
    n /= base;
  } while (n);
  return out;
}

std::string signedInBase(long long n, unsigned char base) {
  if (base == 10 && n < 0) return "-" + inBase(0ULL - (unsigned long long)n, 10);
  return inBase((unsigned long long)n, base);
}

std::string fixed(double n, unsigned char decimals) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", (int)decimals, n);
  return buf;
}

}  // namespace

String::String(const char* s) : s_(s ? s : "") {}
String::String(const char* s, size_t len) : s_(s ? std::string(s, len) : std::string()) {}
String::String(char c) : s_(1, c) {}
String::String(unsigned char n, unsigned char base) : s_(inBase(n, base)) {}
String::String(int n, unsigned char base)
    : s_(base == 10 ? signedInBase(n, base) : inBase((unsigned int)n, base)) {}
String::String(unsigned int n, unsigned char base) : s_(inBase(n, base)) {}
String::String(long n, unsigned char base)
    : s_(base == 10 ? signedInBase(n, base) : inBase((unsigned long)n, base)) {}
String::String(unsigned long n, unsigned char base) : s_(inBase(n, base)) {}
String::String(float n, unsigned char decimals) : s_(fixed(n, decimals)) {}
String::String(double n, unsigned char decimals) : s_(fixed(n, decimals)) {}

String& String::operator=(const char* s) {
  s_ = s ? s : "";
  return *this;
}

bool String::reserve(unsigned int size) {
  s_.reserve(size);
  return true;
}

bool String::concat(const String& s) { s_ += s.s_; return true; }
bool String::concat(const char* s) { if (!s) return false; s_ += s; return true; }
bool String::concat(char c) { s_ += c; return true; }
bool String::concat(int n) { s_ += String(n).s_; return true; }
bool String::concat(unsigned int n) { s_ += String(n).s_; return true; }
bool String::concat(long n) { s_ += String(n).s_; return true; }
bool String::concat(unsigned long n) { s_ += String(n).s_; return true; }

bool String::equalsIgnoreCase(const String& s) const {
  if (s_.size() != s.s_.size()) return false;
  for (size_t i = 0; i < s_.size(); i++) {
    if (tolower((unsigned char)s_[i]) != tolower((unsigned char)s.s_[i])) return false;
  }
  return true;
}

bool String::startsWith(const String& prefix) const { return startsWith(prefix, 0); }

bool String::startsWith(const String& prefix, unsigned int offset) const {
  if (offset > s_.size() || prefix.s_.size() > s_.size() - offset) return false;
  return s_.compare(offset, prefix.s_.size(), prefix.s_) == 0;
}

bool String::endsWith(const String& suffix) const {
  if (suffix.s_.size() > s_.size()) return false;
  return s_.compare(s_.size() - suffix.s_.size(), suffix.s_.size(), suffix.s_) == 0;
}

char& String::operator[](unsigned int index) {
  if (index >= s_.size()) {
    dummy_ = 0;
    return dummy_;
  }
  return s_[index];
}

int String::indexOf(char c, unsigned int from) const {
  size_t at = s_.find(c, from);
  return at == std::string::npos ? -1 : (int)at;
}

int String::indexOf(const String& s, unsigned int from) const {
  size_t at = s_.find(s.s_, from);
  return at == std::string::npos ? -1 : (int)at;
}

int String::lastIndexOf(char c) const {
  size_t at = s_.rfind(c);
  return at == std::string::npos ? -1 : (int)at;
}

int String::lastIndexOf(const String& s) const {
  size_t at = s_.rfind(s.s_);
  return at == std::string::npos ? -1 : (int)at;
}

String String::substring(unsigned int from) const { return substring(from, length()); }

// Arduino swaps the bounds when from > to and clamps to the length.
String String::substring(unsigned int from, unsigned int to) const {
  if (from > to) {
    unsigned int t = from;
    from = to;
    to = t;
  }
  if (from >= s_.size()) return String();
  if (to > s_.size()) to = (unsigned int)s_.size();
  return String(s_.substr(from, to - from));
}

void String::replace(char find, char with) {
  for (char& c : s_) {
    if (c == find) c = with;
  }
}

void String::replace(const String& find, const String& with) {
  if (find.s_.empty()) return;
  size_t at = 0;
  while ((at = s_.find(find.s_, at)) != std::string::npos) {
    s_.replace(at, find.s_.size(), with.s_);
    at += with.s_.size();
  }
}

void String::remove(unsigned int index) { if (index < s_.size()) s_.erase(index); }

void String::remove(unsigned int index, unsigned int count) {
  if (index < s_.size()) s_.erase(index, count);
}

void String::toLowerCase() {
  for (char& c : s_) c = (char)tolower((unsigned char)c);
}

void String::toUpperCase() {
  for (char& c : s_) c = (char)toupper((unsigned char)c);
}

// Arduino's trim(): isspace() on both ends.
void String::trim() {
  size_t start = 0, end = s_.size();
  while (start < end && isspace((unsigned char)s_[start])) start++;
  while (end > start && isspace((unsigned char)s_[end - 1])) end--;
  s_ = s_.substr(start, end - start);
}

// atol() on a 32-bit long, as on the boards.
long String::toInt() const {
  long long v = strtoll(s_.c_str(), NULL, 10);
  if (v > 2147483647LL) v = 2147483647LL;
  if (v < -2147483648LL) v = -2147483648LL;
  return (long)v;
}

float String::toFloat() const { return (float)atof(s_.c_str()); }
double String::toDouble() const { return atof(s_.c_str()); }

String operator+(const String& a, const String& b) {
  String out(a);
  out.concat(b);
  return out;
}

String operator+(const String& a, const char* b) {
  String out(a);
  out.concat(b);
  return out;
}

String operator+(const char* a, const String& b) {
  String out(a);
  out.concat(b);
  return out;
}

String operator+(const String& a, char b) {
  String out(a);
  out.concat(b);
  return out;
}
