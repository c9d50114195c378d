// The presets gallery: use a preset (with its parameters) for the watched folder.
"use strict";
(() => {
  const box = document.getElementById("gallery-error");
  const value = (input) => {
    if (input.dataset.type === "bool") return input.checked;
    if (input.value === "") return null;
    if (input.dataset.type === "int") return Number.parseInt(input.value, 10);
    if (input.dataset.type === "float") return Number.parseFloat(input.value);
    return input.value;
  };
  document.querySelectorAll("form[data-preset]").forEach((form) => form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = {};
    form.querySelectorAll("[data-type]").forEach((input) => {
      const v = value(input);
      if (v !== null && !Number.isNaN(v)) params[input.name] = v;
    });
    busy(form.querySelector("button[type=submit]"), async () => {
      box.hidden = true;
      try {
        const saved = await api("/creator/preferences", { method: "PUT",
          body: { preset: form.dataset.preset, preset_params: params } });
        toast(`${saved.preset_title} is used from the next sync on.`);
        setTimeout(() => window.location.reload(), 800);
      } catch (e) {
        box.textContent = e.message;
        box.hidden = false;
      }
    });
  }));
})();
