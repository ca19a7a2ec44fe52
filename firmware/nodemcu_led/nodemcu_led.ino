// NodeMCU LEDs: subscribes to the retained /alert and lights red (GPIO 4) on 1 and green
// (GPIO 5) on 0, like the seed sketch. Unlike the seed, a payload that is not 0 or 1 leaves
// both LEDs off and says why (build with -DALERTLOOP_SEED_COMPAT=1 for the seed's behaviour,
// where such a payload reads as 0 and shows green). Machine lines (#AL ...) report events.
#include <ESP8266WiFi.h>
#include <PubSubClient.h>

#include "alertloop_logic.h"
#include "secrets.h"

#ifndef ALERTLOOP_SEED_COMPAT
#define ALERTLOOP_SEED_COMPAT 0
#endif

const int ledRed = 4;
const int ledGreen = 5;
const char* topic = "/alert";
const char* clientName = "com.gonzalo123.nodemcu";
const char* statusTopic = "status/com.gonzalo123.nodemcu";

WiFiClient wifiClient;
PubSubClient client(wifiClient);

void cleanLeds() {
  digitalWrite(ledRed, LOW);
  digitalWrite(ledGreen, LOW);
}

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

void mqttReConnect() {
  const char* user = strlen(ALERTLOOP_MQTT_USER) ? ALERTLOOP_MQTT_USER : NULL;
  const char* pass = strlen(ALERTLOOP_MQTT_PASSWORD) ? ALERTLOOP_MQTT_PASSWORD : NULL;
  while (!client.connected()) {
    Serial.print("Attempting MQTT connection...");
    if (client.connect(clientName, user, pass, statusTopic, 1, true, "offline")) {
      Serial.println("connected");
      client.publish(statusTopic, "online", true);
      client.subscribe(topic, 1);
      Serial.println("#AL mqtt state=subscribed");
    } else {
      Serial.print("failed, rc=");
      Serial.print(client.state());
      Serial.println(" try again in 5 seconds");
      delay(5000);
    }
  }
}

void callback(char* msgTopic, byte* payload, unsigned int length) {
  Serial.print("Message arrived [");
  Serial.print(msgTopic);
  alertloop::LedDecision d =
      alertloop::decideLeds((const char*)payload, length, ALERTLOOP_SEED_COMPAT);
  cleanLeds();
  if (d.state == alertloop::LED_RED) digitalWrite(ledRed, HIGH);
  if (d.state == alertloop::LED_GREEN) digitalWrite(ledGreen, HIGH);
  Serial.print("] value:");
  Serial.println(d.hasValue ? d.value : -1);
  Serial.printf("#AL led state=%s red=%d green=%d", alertloop::ledName(d.state),
                d.state == alertloop::LED_RED, d.state == alertloop::LED_GREEN);
  if (d.reason) Serial.printf(" reason=\"%s\"", d.reason);
  Serial.println();
}

void setup() {
  Serial.begin(9600);
  pinMode(ledRed, OUTPUT);
  pinMode(ledGreen, OUTPUT);
  cleanLeds();
  Serial.println("start");
  wifiConnect();
  client.setServer(ALERTLOOP_MQTT_HOST, ALERTLOOP_MQTT_PORT);
  client.setCallback(callback);
  delay(1500);
}

void loop() {
  if (!client.connected()) {
    mqttReConnect();
  }
  client.loop();
  delay(10);
}
