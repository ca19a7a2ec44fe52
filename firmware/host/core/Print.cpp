#include "Print.h"

#include <stdio.h>
#include <string.h>

#include <string>

#include "WString.h"

size_t Print::write(const uint8_t* buffer, size_t size) {
  size_t n = 0;
  while (size--) n += write(*buffer++);
  return n;
}

size_t Print::write(const char* str) { return str ? write((const uint8_t*)str, strlen(str)) : 0; }

size_t Print::printUnsigned(unsigned long long n, int base) {
  if (base < 2) base = 10;
  char buf[8 * sizeof(n) + 1];
  char* p = buf + sizeof(buf);
  *--p = 0;
  do {
    int digit = (int)(n % (unsigned)base);
    *--p = (char)(digit < 10 ? '0' + digit : 'A' + digit - 10);
    n /= (unsigned)base;
  } while (n);
  return write(p);
}

size_t Print::printSigned(long long n, int base) {
  if (base == 10 && n < 0) return write((uint8_t)'-') + printUnsigned(0ULL - (unsigned long long)n, 10);
  return printUnsigned((unsigned long long)n, base);
}

size_t Print::print(const char* s) { return write(s); }
size_t Print::print(const String& s) { return write((const uint8_t*)s.c_str(), s.length()); }
size_t Print::print(char c) { return write((uint8_t)c); }
size_t Print::print(unsigned char n, int base) { return printUnsigned(n, base); }
size_t Print::print(int n, int base) {
  // Arduino prints a negative number in another base as its two's complement.
  return base == 10 ? printSigned(n, base) : printUnsigned((unsigned int)n, base);
}
size_t Print::print(unsigned int n, int base) { return printUnsigned(n, base); }
size_t Print::print(long n, int base) {
  return base == 10 ? printSigned(n, base) : printUnsigned((unsigned long)n, base);
}
size_t Print::print(unsigned long n, int base) { return printUnsigned(n, base); }
size_t Print::print(long long n, int base) { return printSigned(n, base); }
size_t Print::print(unsigned long long n, int base) { return printUnsigned(n, base); }
size_t Print::print(double n, int digits) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", digits < 0 ? 0 : digits, n);
  return write(buf);
}
size_t Print::print(const Printable& p) { return p.printTo(*this); }

size_t Print::println() { return write("\r\n"); }
size_t Print::println(const char* s) { return print(s) + println(); }
size_t Print::println(const String& s) { return print(s) + println(); }
size_t Print::println(char c) { return print(c) + println(); }
size_t Print::println(unsigned char n, int base) { return print(n, base) + println(); }
size_t Print::println(int n, int base) { return print(n, base) + println(); }
size_t Print::println(unsigned int n, int base) { return print(n, base) + println(); }
size_t Print::println(long n, int base) { return print(n, base) + println(); }
size_t Print::println(unsigned long n, int base) { return print(n, base) + println(); }
size_t Print::println(long long n, int base) { return print(n, base) + println(); }
size_t Print::println(unsigned long long n, int base) { return print(n, base) + println(); }
size_t Print::println(double n, int digits) { return print(n, digits) + println(); }
size_t Print::println(const Printable& p) { return print(p) + println(); }

size_t Print::printf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list copy;
  va_copy(copy, args);
  int len = vsnprintf(NULL, 0, format, copy);
  va_end(copy);
  if (len < 0) {
    va_end(args);
    return 0;
  }
  std::string buf((size_t)len + 1, '\0');
  vsnprintf(&buf[0], buf.size(), format, args);
  va_end(args);
  return write((const uint8_t*)buf.data(), (size_t)len);
}
