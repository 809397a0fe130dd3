var FIT_MIN = 0.6, FIT_MAX = 1.5;
function learnresFit(slide) {
  if (!slide || !window.Reveal || slide.querySelector('section')) return;
  var H = Reveal.getConfig().height;
  var images = Array.prototype.filter.call(slide.querySelectorAll('img'), function(img) {
    return img.naturalHeight > 0 && !img.closest('aside') && img.offsetHeight > 0;
  });
  if (!images.length) return;
  images.forEach(function(img) {
    if (!img.dataset.learnresHeight) img.dataset.learnresHeight = img.offsetHeight;
  });
  for (var round = 0; round < 8; round++) {
    var room = H - 4 - slide.scrollHeight, total = 0;
    images.forEach(function(img) { total += img.offsetHeight; });
    if (Math.abs(room) < 2 || total <= 0) break;
    var f = (total + room) / total, changed = false;
    images.forEach(function(img) {
      var base = Number(img.dataset.learnresHeight);
      var column = img.parentElement ? img.parentElement.clientWidth : 0;
      var widest = column > 0 ? column * img.naturalHeight / img.naturalWidth : Infinity;
      var h = Math.min(Math.max(FIT_MIN * base, img.offsetHeight * f), FIT_MAX * base, widest);
      if (Math.abs(h - img.offsetHeight) > 0.5) {
        img.style.height = h + 'px'; img.style.width = 'auto'; img.style.maxWidth = 'none';
        changed = true;
      }
    });
    if (!changed) break;
  }
}
window.learnresFit = learnresFit;
