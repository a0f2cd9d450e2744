// Fills the hidden time-zone input of the sign-up and set-up forms with the browser's time zone
// (an IANA name such as "Europe/Paris"). The server checks the name and ignores one it does not
// know; without JavaScript the server's own time zone is used, and the account page changes it.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) {
    return;
  }
  var inputs = document.querySelectorAll("input[data-browser-time-zone]");
  for (var i = 0; i < inputs.length; i++) {
    if (!inputs[i].value) {
      inputs[i].value = zone;
    }
  }
})();
