// The Arduino API the sketches use, for Linux: timing, pins, the ADC, Serial and String.
// Board differences follow the build's define: ESP32 (12-bit ADC) or ESP8266 (10-bit, D0..D8).
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "HardwareSerial.h"
#include "Print.h"
#include "WString.h"

typedef uint8_t byte;
typedef bool boolean;

#define HIGH 0x1
#define LOW 0x0
#define INPUT 0x01
#define OUTPUT 0x03
#define INPUT_PULLUP 0x05

#if defined(ESP8266)
#define ALERTLOOP_BOARD "esp8266"
#define ALERTLOOP_ADC_MAX 1023
static const uint8_t D0 = 16, D1 = 5, D2 = 4, D3 = 0, D4 = 2, D5 = 14, D6 = 12, D7 = 13, D8 = 15;
static const uint8_t A0 = 17;
static const uint8_t LED_BUILTIN = 2;
#elif defined(ESP32)
#define ALERTLOOP_BOARD "esp32"
#define ALERTLOOP_ADC_MAX 4095
static const uint8_t A0 = 36;
static const uint8_t LED_BUILTIN = 2;
#else
#error "define ESP32 or ESP8266 for the host build"
#endif

unsigned long millis();
unsigned long micros();
void delay(unsigned long ms);
void delayMicroseconds(unsigned int us);
void yield();

void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t level);
int digitalRead(uint8_t pin);
int analogRead(uint8_t pin);

long random(long max);
long random(long min, long max);
void randomSeed(unsigned long seed);
long map(long x, long inMin, long inMax, long outMin, long outMax);
#define constrain(amt, low, high) ((amt) < (low) ? (low) : ((amt) > (high) ? (high) : (amt)))

// The sketch's entry points.
void setup();
void loop();
