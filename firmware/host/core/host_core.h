// What the parts of the host core tell each other; sketches never include this.
#pragma once

#include <string>
#include <vector>

class PubSubClient;

namespace hostcore {

// The environment of the host build (firmware/host/README.md).
struct Settings {
  std::string mqttHost = "127.0.0.1";
  int mqttPort = 1883;
  std::string mqttUser;
  std::string mqttPassword;
  std::string topicPrefix;
  std::string clientId;  // empty: the sketch's
  int keepalive = -1;    // -1: the sketch's (PubSubClient's 15 s)
  bool pty = false;
  std::string sketch;
};
const Settings& settings();
void loadSettings(int argc, char** argv);

// Serial line (host_serial.cpp).
void serialOpen();
// Serve the serial line, control lines, timers and a pending stop for up to timeoutMs;
// withMqtt also wakes on the MQTT sockets (used between two loop() calls).
void pump(int timeoutMs, bool withMqtt = false);
// Write one core line ("#HW ..."), starting a new line first when the sketch is mid-line.
void emitLine(const std::string& line);
void flushSerial(int timeoutMs);
// Write the core lines held back while the sketch was mid-line (force: end its line now).
void releaseHeldLines(bool force);

// Control lines (host_control.cpp).
void handleControlLine(const std::string& line);
// A value as a field of a machine line: plain, or a JSON string when it needs quotes.
std::string fieldValue(const std::string& value);

// Pins and the ADC (host_pins.cpp).
bool setAdc(int pin, int value);
std::string pinLevels();

// WiFi (host_wifi.cpp).
bool wifiUp();
void setWifi(bool up, long forMs);
void wifiTimers();

// MQTT clients (host_mqtt.cpp).
std::vector<PubSubClient*>& clients();
void dropMqttConnections();
void stopMqttClients();
int mqttState();
void mqttSockets(std::vector<int>& fds);
bool mqttPending();

// Stop: set from a signal handler or end of input; acted on by pump().
void requestStop();
[[noreturn]] void stopNow();

}  // namespace hostcore
