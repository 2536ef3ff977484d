// ringbench dashboard (reports/dashboard.py inlines this file): the filters.
"use strict";
(function () {
  var host = document.getElementById("f-host");
  var family = document.getElementById("f-family");
  var shown = document.getElementById("shown");

  function keep(el) {
    return (!host.value || el.getAttribute("data-host") === host.value) &&
      (!family.value || el.getAttribute("data-family") === family.value);
  }

  function apply() {
    var figures = document.querySelectorAll("figure.series");
    var count = 0;
    figures.forEach(function (f) {
      f.hidden = !keep(f);
      if (!f.hidden) { count += 1; }
    });
    document.querySelectorAll("section.env").forEach(function (group) {
      group.hidden = !group.querySelector("figure.series:not([hidden])");
    });
    document.querySelectorAll("tr[data-host]").forEach(function (row) {
      row.hidden = !keep(row);
    });
    shown.textContent = count + " of " + figures.length + " series shown";
  }

  host.addEventListener("change", apply);
  family.addEventListener("change", apply);
  apply();
  document.body.setAttribute("data-ready", "1");
}());
