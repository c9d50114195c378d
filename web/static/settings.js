// Settings: the preset and its parameters, the folder for edited photos, emails; disconnect; delete the account.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("settings-form");
  const presetSelect = $("preset");

  function showParams() {
    document.querySelectorAll(".preset-params").forEach((fieldset) => {
      const on = fieldset.dataset.preset === presetSelect.value && !presetSelect.disabled;
      fieldset.hidden = !on;
      fieldset.disabled = !on;
    });
  }
  presetSelect.addEventListener("change", showParams);

  function value(input) {
    if (input.dataset.type === "bool") return input.checked;
    if (input.value === "") return null;
    if (input.dataset.type === "int") return Number.parseInt(input.value, 10);
    if (input.dataset.type === "float") return Number.parseFloat(input.value);
    return input.value;
  }

  function showError(message, field) {
    const box = $("settings-error");
    box.textContent = message || "";
    box.hidden = !message;
    document.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
    if (field && field.startsWith("preset_params.")) {
      const input = document.querySelector(`.preset-params:not([hidden]) [name="${field.split(".")[1]}"]`);
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    } else if (field === "output_folder_name") {
      $("output-folder").setAttribute("aria-invalid", "true");
      $("output-folder").focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { email_notices: form.querySelector('input[name="email_notices"]:checked').value };
    if (!presetSelect.disabled) {
      body.preset = presetSelect.value;
      body.preset_params = {};
      document.querySelectorAll(`.preset-params[data-preset="${presetSelect.value}"] [data-type]`).forEach((input) => {
        const v = value(input);
        if (v !== null && !Number.isNaN(v)) body.preset_params[input.name] = v;
      });
      body.output_folder_name = $("output-folder").value;
    }
    busy($("save"), async () => {
      showError("");
      try {
        await api("/creator/preferences", { method: "PUT", body });
        toast("Saved. The next sync uses these settings.");
      } catch (e) {
        showError(e.message, e.details && e.details.field);
      }
    });
  });

  $("disconnect").addEventListener("click", (event) => {
    if (!window.confirm("Stop syncing this folder? Photos already edited stay in your Google Drive.")) return;
    busy(event.currentTarget, async () => {
      try {
        await api("/creator/drive/disconnect", { method: "POST" });
        window.location.assign("/creator/");
      } catch (e) { showError(e.message); }
    });
  });

  const dialog = $("delete-dialog");
  $("delete-account").addEventListener("click", () => dialog.showModal());
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    try {
      await api("/creator/account", { method: "DELETE" });
      window.location.assign("/creator/?deleted=1");
    } catch (e) { showError(e.message); }
  });
  showParams();
})();
