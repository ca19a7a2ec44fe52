// Arduino's String, on std::string: the members the sketches use and the common rest.
#pragma once

#include <stddef.h>

#include <string>

class String {
 public:
  String(const char* s = "");
  String(const char* s, size_t len);
  String(const std::string& s) : s_(s) {}
  String(const String& other) = default;
  String(String&& other) = default;
  explicit String(char c);
  explicit String(unsigned char n, unsigned char base = 10);
  explicit String(int n, unsigned char base = 10);
  explicit String(unsigned int n, unsigned char base = 10);
  explicit String(long n, unsigned char base = 10);
  explicit String(unsigned long n, unsigned char base = 10);
  explicit String(float n, unsigned char decimals = 2);
  explicit String(double n, unsigned char decimals = 2);

  String& operator=(const String& other) = default;
  String& operator=(String&& other) = default;
  String& operator=(const char* s);

  const char* c_str() const { return s_.c_str(); }
  unsigned int length() const { return (unsigned int)s_.size(); }
  bool isEmpty() const { return s_.empty(); }
  bool reserve(unsigned int size);

  bool concat(const String& s);
  bool concat(const char* s);
  bool concat(char c);
  bool concat(int n);
  bool concat(unsigned int n);
  bool concat(long n);
  bool concat(unsigned long n);
  String& operator+=(const String& s) { concat(s); return *this; }
  String& operator+=(const char* s) { concat(s); return *this; }
  String& operator+=(char c) { concat(c); return *this; }
  String& operator+=(int n) { concat(n); return *this; }
  String& operator+=(unsigned int n) { concat(n); return *this; }
  String& operator+=(long n) { concat(n); return *this; }
  String& operator+=(unsigned long n) { concat(n); return *this; }

  int compareTo(const String& s) const { return s_.compare(s.s_); }
  bool equals(const String& s) const { return s_ == s.s_; }
  bool equals(const char* s) const { return s_ == (s ? s : ""); }
  bool equalsIgnoreCase(const String& s) const;
  bool operator==(const String& s) const { return equals(s); }
  bool operator==(const char* s) const { return equals(s); }
  bool operator!=(const String& s) const { return !equals(s); }
  bool operator!=(const char* s) const { return !equals(s); }
  bool operator<(const String& s) const { return compareTo(s) < 0; }
  bool operator>(const String& s) const { return compareTo(s) > 0; }
  bool startsWith(const String& prefix) const;
  bool startsWith(const String& prefix, unsigned int offset) const;
  bool endsWith(const String& suffix) const;

  char charAt(unsigned int index) const { return index < s_.size() ? s_[index] : 0; }
  void setCharAt(unsigned int index, char c) { if (index < s_.size()) s_[index] = c; }
  char operator[](unsigned int index) const { return charAt(index); }
  char& operator[](unsigned int index);

  int indexOf(char c, unsigned int from = 0) const;
  int indexOf(const String& s, unsigned int from = 0) const;
  int lastIndexOf(char c) const;
  int lastIndexOf(const String& s) const;
  String substring(unsigned int from) const;
  String substring(unsigned int from, unsigned int to) const;

  void replace(char find, char with);
  void replace(const String& find, const String& with);
  void remove(unsigned int index);
  void remove(unsigned int index, unsigned int count);
  void toLowerCase();
  void toUpperCase();
  void trim();

  long toInt() const;
  float toFloat() const;
  double toDouble() const;

 private:
  std::string s_;
  char dummy_ = 0;
};

String operator+(const String& a, const String& b);
String operator+(const String& a, const char* b);
String operator+(const char* a, const String& b);
String operator+(const String& a, char b);
