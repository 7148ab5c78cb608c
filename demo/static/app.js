// Sends the note form to the JSON API. The XSRF token travels in the
// X-XSRFToken header, taken from the _xsrf cookie the server set.
"use strict";
(function () {
  const form = document.getElementById("note-form");
  if (!form || !window.fetch) return;
  function cookie(name) {
    const m = document.cookie.match("(?:^|; )" + name + "=([^;]*)");
    return m ? decodeURIComponent(m[1]) : "";
  }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = form.elements.text.value;
    const response = await fetch("/api/notes", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-XSRFToken": cookie("_xsrf") },
      body: JSON.stringify({ text: text }),
    });
    if (response.ok) {
      window.location.reload();
    } else {
      const body = await response.json();
      alert(body.error || "could not save the note");
    }
  });
})();
