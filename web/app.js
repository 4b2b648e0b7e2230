// The Phoenix guide's chat (guides/channels.md), with the official
// phoenix.js served by the node itself. ?room=room:secret and
// ?transport=longpoll pick the room and transport.
(function () {
  const params = new URLSearchParams(window.location.search);
  const room = params.get("room") || "room:lobby";
  const transportName = params.get("transport") || "websocket";
  const status = document.querySelector("#status");
  const roomSelect = document.querySelector("#room");
  const transportSelect = document.querySelector("#transport");
  roomSelect.value = room;
  transportSelect.value = transportName;
  for (const select of [roomSelect, transportSelect]) {
    select.addEventListener("change", () => {
      const next = new URLSearchParams({ room: roomSelect.value, transport: transportSelect.value });
      window.location.search = next.toString();
    });
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  const socketParams = window.userToken ? { token: window.userToken } : {};
  const options = { params: socketParams };
  if (transportName === "longpoll") {
    options.transport = Phoenix.LongPoll;
  }
  const socket = new Phoenix.Socket("/socket", options);
  socket.onOpen(() => setStatus("connected", `connected (${transportName})`));
  socket.onError(() => setStatus("disconnected", "connection lost, reconnecting…"));
  socket.connect();

  const channel = socket.channel(room, {});
  const chatInput = document.querySelector("#chat-input");
  const messagesContainer = document.querySelector("#messages");

  chatInput.addEventListener("keypress", (event) => {
    if (event.key === "Enter" && chatInput.value !== "") {
      channel.push("new_msg", { body: chatInput.value });
      chatInput.value = "";
    }
  });

  channel.on("new_msg", (payload) => {
    const messageItem = document.createElement("p");
    messageItem.innerText = `[${new Date().toLocaleTimeString()}] ${payload.body}`;
    messagesContainer.appendChild(messageItem);
    messagesContainer.scrollTop = messagesContainer.scrollHeight;
  });
  channel.onClose(() => setStatus("left", `left ${room}`));
  channel.onError(() => setStatus("error", `${room}: error, rejoining…`));

  channel.join()
    .receive("ok", () => setStatus("joined", `joined ${room} (${transportName})`))
    .receive("error", (resp) => setStatus("error", `unable to join ${room}: ${resp.reason}`));
})();
