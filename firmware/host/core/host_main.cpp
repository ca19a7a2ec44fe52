// main() of a host-built sketch: read the environment, open the serial line, run setup() once
// and loop() until SIGTERM/SIGINT (or end of stdin in stdio mode) stops the process cleanly.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "Arduino.h"
#include "host_core.h"
#include "host_settings.h"

namespace hostcore {
namespace {

// Between two loop() calls: wait this long at most (less when serial input or MQTT arrives).
const int IDLE_MS = 5;

Settings current;

std::string envText(const char* name, const char* fallback) {
  const char* value = getenv(name);
  return value && *value ? std::string(value) : std::string(fallback);
}

int envNumber(const char* name, int fallback, int low, int high) {
  const char* value = getenv(name);
  if (!value || !*value) return fallback;
  char* end = NULL;
  errno = 0;
  long n = strtol(value, &end, 10);
  if (errno || *end || n < low || n > high) {
    fprintf(stderr, "error: %s=%s is not a number in %d..%d\n", name, value, low, high);
    exit(2);
  }
  return (int)n;
}

void onSignal(int) { requestStop(); }

void usage(const char* program) {
  fprintf(stderr,
          "usage: %s [--pty]\n"
          "Runs the sketch against an MQTT broker; see firmware/host/README.md.\n"
          "  --pty  put Serial on a new pseudo-terminal (as ALERTLOOP_SERIAL=pty) and print\n"
          "         '#HW pty path=/dev/pts/N' on stdout\n",
          program);
}

}  // namespace

const Settings& settings() { return current; }

void loadSettings(int argc, char** argv) {
  const char* slash = strrchr(argv[0], '/');
  current.sketch = slash ? slash + 1 : argv[0];
  current.mqttHost = envText("ALERTLOOP_MQTT_HOST", "127.0.0.1");
  current.mqttPort = envNumber("ALERTLOOP_MQTT_PORT", 1883, 1, 65535);
  current.mqttUser = envText("ALERTLOOP_MQTT_USER", "");
  current.mqttPassword = envText("ALERTLOOP_MQTT_PASSWORD", "");
  current.topicPrefix = envText("ALERTLOOP_TOPIC_PREFIX", "");
  while (!current.topicPrefix.empty() && current.topicPrefix.back() == '/') current.topicPrefix.pop_back();
  current.clientId = envText("ALERTLOOP_CLIENT_ID", "");
  current.keepalive = envNumber("ALERTLOOP_MQTT_KEEPALIVE", -1, 5, 65535);
  std::string serial = envText("ALERTLOOP_SERIAL", "stdio");
  if (serial != "stdio" && serial != "pty") {
    fprintf(stderr, "error: ALERTLOOP_SERIAL=%s: use stdio or pty\n", serial.c_str());
    exit(2);
  }
  current.pty = serial == "pty";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--pty") == 0) {
      current.pty = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(argv[0]);
      exit(0);
    } else {
      fprintf(stderr, "error: unknown argument %s\n", argv[i]);
      usage(argv[0]);
      exit(2);
    }
  }
}

void stopNow() {
  static bool stopping = false;
  if (!stopping) {
    stopping = true;
    stopMqttClients();
    flushSerial(500);
  }
  fflush(stdout);
  _exit(0);
}

}  // namespace hostcore

int main(int argc, char** argv) {
  hostcore::loadSettings(argc, argv);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = hostcore::onSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  signal(SIGPIPE, SIG_IGN);
  hostcore::serialOpen();
  const hostcore::Settings& env = hostcore::settings();
  hostcore::emitLine(std::string("#HW boot board=") + ALERTLOOP_BOARD +
                     " sketch=" + hostcore::fieldValue(env.sketch) +
                     " client_id=" + hostcore::fieldValue(env.clientId) +
                     " prefix=" + hostcore::fieldValue(env.topicPrefix));
  setup();
  for (;;) {
    loop();
    hostcore::pump(hostcore::IDLE_MS, true);
  }
}

const char* hostcore_setting_mqtt_host() { return hostcore::settings().mqttHost.c_str(); }
uint16_t hostcore_setting_mqtt_port() { return (uint16_t)hostcore::settings().mqttPort; }
const char* hostcore_setting_mqtt_user() { return hostcore::settings().mqttUser.c_str(); }
const char* hostcore_setting_mqtt_password() { return hostcore::settings().mqttPassword.c_str(); }
