// learnres: the slide check (learnres.lectures.browser.check_deck), run in a built deck.
// Shows every slide (all its fragments) in turn and reports what does not fit. A slide is
// the 1280x720 box of `.reveal .slides`; an element fails when its box leaves that box, or
// when it hides part of its own content behind a scroll bar or a clip.
(async () => {
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const W = Reveal.getConfig().width, H = Reveal.getConfig().height;
  const name = el => {
    let s = el.tagName.toLowerCase();
    if (typeof el.className === 'string' && el.className.trim())
      s += '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.');
    const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 50);
    return text ? s + ' "' + text + '"' : s;
  };
  const shown = el => {
    if (el.closest('aside.notes')) return false;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return false;
    const cs = getComputedStyle(el);
    return cs.visibility !== 'hidden' && cs.display !== 'none';
  };
  function check(slide, h, v) {
    const frame = document.querySelector('.reveal .slides').getBoundingClientRect();
    const scale = frame.width / W;
    const problems = [];
    if (slide.scrollHeight > H + 1)
      problems.push('content is ' + slide.scrollHeight + ' px tall, the slide ' + H + ' px');
    if (slide.scrollWidth > slide.clientWidth + 1)
      problems.push('content is ' + slide.scrollWidth + ' px wide, the slide '
                    + slide.clientWidth + ' px');
    const outside = [], clipped = [];
    for (const el of slide.querySelectorAll('*')) {
      if (!shown(el)) continue;
      const r = el.getBoundingClientRect();
      const tol = 1.5 * scale;
      if (r.left < frame.left - tol || r.right > frame.right + tol
          || r.top < frame.top - tol || r.bottom > frame.bottom + tol) outside.push(el);
      const cs = getComputedStyle(el);
      const hides = o => o !== 'visible';
      if ((hides(cs.overflowX) && el.scrollWidth > el.clientWidth + 1)
          || (hides(cs.overflowY) && el.scrollHeight > el.clientHeight + 1)) clipped.push(el);
    }
    const top = list => list.filter(el => !list.some(o => o !== el && o.contains(el)));
    top(outside).slice(0, 4).forEach(el => problems.push('outside the slide: ' + name(el)));
    top(clipped).slice(0, 4).forEach(el => problems.push('content cut off: ' + name(el)
        + ' (' + el.scrollWidth + 'x' + el.scrollHeight + ' in '
        + el.clientWidth + 'x' + el.clientHeight + ')'));
    const code = Array.from(slide.querySelectorAll('.jp-CodeCell .jp-InputArea'))
      .filter(el => shown(el) && !el.closest('.celltag_show-code'));
    code.forEach(el => problems.push('code shown without the show-code tag: ' + name(el)));
    const images = Array.from(slide.querySelectorAll('img')).filter(i => !i.closest('aside.notes'));
    images.filter(i => !(i.complete && i.naturalWidth > 0))
      .forEach(i => problems.push('image not loaded: ' + (i.src || '').slice(0, 80)));
    const errors = slide.querySelectorAll('mjx-merror, [data-mjx-error]').length;
    if (errors) problems.push(errors + ' MathJax error(s)');
    const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode, parent = node.parentElement;
      const skip = 'mjx-container, code, pre, script, style, aside.notes';
      if (!parent || parent.closest(skip)) continue;
      if (/\$\$|\\[a-zA-Z]{2,}|\$[^$\s][^$]*\$/.test(node.textContent)) {
        problems.push('TeX left untypeset: "' + node.textContent.trim().slice(0, 50) + '"');
        break;
      }
    }
    const heading = slide.querySelector('h1, h2, h3, h4');
    const scales = images.filter(i => i.dataset.learnresHeight)
      .map(i => i.offsetHeight / Number(i.dataset.learnresHeight));
    return {h: h, v: v, title: heading ? heading.textContent.replace('¶', '').trim() : '',
            problems: problems, images: images.length,
            math: slide.querySelectorAll('mjx-container').length,
            code: slide.querySelectorAll('.celltag_show-code .jp-InputArea').length,
            notes: slide.querySelectorAll('aside.notes').length,
            figure_scale: scales.length ? Math.min(...scales) : 1};
  }
  const results = [];
  const tops = Array.from(document.querySelectorAll('.reveal .slides > section'));
  for (let h = 0; h < tops.length; h++) {
    const stack = Array.from(tops[h].children).filter(c => c.tagName === 'SECTION');
    const leaves = stack.length ? stack : [tops[h]];
    for (let v = 0; v < leaves.length; v++) {
      Reveal.slide(h, v, leaves[v].querySelectorAll('.fragment').length);
      await frames();
      if (window.learnresFit) learnresFit(leaves[v]);
      Reveal.layout();
      await frames();
      results.push(check(leaves[v], h, v));
    }
  }
  return results;
})()
