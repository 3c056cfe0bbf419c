// Small page behaviours: the Jalali date picker on every [data-jdp] input.
document.addEventListener("DOMContentLoaded", function () {
  if (window.jalaliDatepicker) {
    window.jalaliDatepicker.startWatch({ persianDigits: true, autoShow: true, autoHide: true, hideAfterChange: true });
  }
});
