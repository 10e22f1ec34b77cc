// Runs a passkey ceremony for the passkey page: on a click, asks the
// browser for a credential with the options the server put in the form,
// writes the answer (PublicKeyCredential as JSON) into the form and
// submits it. The server checks everything; this only carries bytes.
"use strict";
(function () {
  var form = document.getElementById("passkey-form");
  var button = document.getElementById("passkey-go");
  if (!form || !button || !window.PublicKeyCredential) {
    return;
  }
  function bytes(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }
  function b64url(buf) {
    var b = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < b.length; i++) {
      bin += String.fromCharCode(b[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function descriptors(list) {
    return (list || []).map(function (c) {
      return { type: c.type, id: bytes(c.id), transports: c.transports };
    });
  }
  function answer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: b64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: b64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = b64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = b64url(r.authenticatorData);
      out.response.signature = b64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = b64url(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }
  button.addEventListener("click", function () {
    var pk = JSON.parse(form.getAttribute("data-options")).publicKey;
    pk.challenge = bytes(pk.challenge);
    var ceremony;
    if (form.getAttribute("data-passkey") === "create") {
      pk.user.id = bytes(pk.user.id);
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
      ceremony = navigator.credentials.create({ publicKey: pk });
    } else {
      pk.allowCredentials = descriptors(pk.allowCredentials);
      ceremony = navigator.credentials.get({ publicKey: pk });
    }
    document.getElementById("passkey-error").hidden = true;
    ceremony.then(function (cred) {
      document.getElementById("passkey-credential").value = answer(cred);
      form.submit();
    }, function () {
      document.getElementById("passkey-error").hidden = false;
    });
  });
})();
