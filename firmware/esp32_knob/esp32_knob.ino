// ESP32 knob: publishes the potentiometer on GPIO 32 as a percent to /pot every 500 ms,
// like the seed sketch, plus machine lines (#AL ...) on the serial console so a test can
// observe it, a last will on status/<client-id>, and a serial command to override the knob:
//   #AL knob value=80      override the reading with 80 %
//   #AL knob value=-1      back to the potentiometer
#include <PubSubClient.h>
#include <WiFi.h>

#include "alertloop_logic.h"
#include "secrets.h"

const int potentiometerPin = 32;
const char* topic = "/pot";
const char* clientName = "com.gonzalo123.esp32";
const char* statusTopic = "status/com.gonzalo123.esp32";
const unsigned long publishPeriodMs = 500;

WiFiClient wifiClient;
PubSubClient client(wifiClient);
int knobOverride = -1;
unsigned long seq = 0;
unsigned long nextPublish = 0;
String command;

void wifiConnect() {
  Serial.println();
  Serial.print("Connecting to ");
  Serial.println(ALERTLOOP_WIFI_SSID);
  WiFi.begin(ALERTLOOP_WIFI_SSID, ALERTLOOP_WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) {
    delay(500);
    Serial.print(".");
  }
  Serial.println("");
  Serial.print("WiFi connected.");
  Serial.print("IP address: ");
  Serial.println(WiFi.localIP());
}

bool mqttConnect() {
  const char* user = strlen(ALERTLOOP_MQTT_USER) ? ALERTLOOP_MQTT_USER : NULL;
  const char* pass = strlen(ALERTLOOP_MQTT_PASSWORD) ? ALERTLOOP_MQTT_PASSWORD : NULL;
  return client.connect(clientName, user, pass, statusTopic, 1, true, "offline");
}

void mqttReConnect() {
  while (!client.connected()) {
    Serial.print("Attempting MQTT connection...");
    if (mqttConnect()) {
      Serial.println("connected");
      client.publish(statusTopic, "online", true);
      Serial.println("#AL mqtt state=connected");
    } else {
      Serial.print("failed, rc=");
      Serial.print(client.state());
      Serial.println(" try again in 5 seconds");
      Serial.printf("#AL mqtt state=failed rc=%d\n", client.state());
      delay(5000);
    }
  }
}

void readCommands() {
  while (Serial.available()) {
    char c = (char)Serial.read();
    if (c != '\n') {
      command += c;
      continue;
    }
    command.trim();
    if (command.startsWith("#AL knob value=")) {
      knobOverride = command.substring(15).toInt();
      Serial.printf("#AL knob override=%d\n", knobOverride);
    } else if (command == "#AL status") {
      Serial.printf("#AL status mqtt=%d seq=%lu\n", client.connected() ? 1 : 0, seq);
    }
    command = "";
  }
}

void setup() {
  Serial.begin(115200);
  wifiConnect();
  client.setServer(ALERTLOOP_MQTT_HOST, ALERTLOOP_MQTT_PORT);
  delay(1500);
}

void loop() {
  readCommands();
  if (!client.connected()) {
    mqttReConnect();
  }
  client.loop();
  unsigned long now = millis();
  if ((long)(now - nextPublish) < 0) return;
  nextPublish += publishPeriodMs;
  if ((long)(now - nextPublish) > (long)publishPeriodMs) nextPublish = now + publishPeriodMs;
  int current = knobOverride >= 0 ? knobOverride : alertloop::knobPercent(analogRead(potentiometerPin));
  String payload = String(current);
  if (!client.publish(topic, payload.c_str())) {
    // not sent (not connected, or too large for the packet buffer): say so, as the sim does
    Serial.printf("#AL publish_failed rc=%d\n", client.state());
    return;
  }
  seq++;
  Serial.printf("#AL published value=%d seq=%lu\n", current, seq);
}
