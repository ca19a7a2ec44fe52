// The host side of the MQTT clients: every PubSubClient the sketch made, so the core can drop
// their connections (WiFi down), stop them cleanly (the process stops), report their state and
// wait on their sockets.
#include <mosquitto.h>

#include <vector>

#include "PubSubClient.h"
#include "host_core.h"

namespace hostcore {

// Never destroyed: clients are globals whose destructors may run after this file's statics.
std::vector<PubSubClient*>& clients() {
  static std::vector<PubSubClient*>* all = new std::vector<PubSubClient*>();
  return *all;
}

}  // namespace hostcore

void PubSubClient::hostDrop() {
  if (mosq_) {
    mosquitto_destroy(mosq_);
    mosq_ = NULL;
  }
  linked_ = false;
  inbox_.clear();
}

void PubSubClient::hostStop() {
  if (mosq_ && linked_ && state_ == MQTT_CONNECTED) {
    if (hasWill_) {
      mosquitto_publish(mosq_, NULL, willTopic_.c_str(), (int)willMessage_.size(), willMessage_.data(),
                        willQos_, willRetain_);
    }
    mosquitto_disconnect(mosq_);
    // Let the queued packets go out before the socket closes.
    unsigned long start = millis();
    while (mosq_ && mosquitto_want_write(mosq_) && millis() - start < 500) mosquitto_loop_write(mosq_, 1);
  }
  release();
  state_ = MQTT_DISCONNECTED;
}

int PubSubClient::hostSocket() { return mosq_ && linked_ ? mosquitto_socket(mosq_) : -1; }

namespace hostcore {

void dropMqttConnections() {
  for (PubSubClient* c : clients()) c->hostDrop();
}

void stopMqttClients() {
  for (PubSubClient* c : clients()) c->hostStop();
}

int mqttState() { return clients().empty() ? MQTT_DISCONNECTED : clients().front()->state(); }

void mqttSockets(std::vector<int>& fds) {
  for (PubSubClient* c : clients()) {
    int fd = c->hostSocket();
    if (fd >= 0) fds.push_back(fd);
  }
}

bool mqttPending() {
  for (PubSubClient* c : clients()) {
    if (c->hostPending()) return true;
  }
  return false;
}

}  // namespace hostcore
