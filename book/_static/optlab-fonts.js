// 中文网页字体加载完成后，让整页按新字体重新排版一次。
// 侧栏标题、搜索按钮等元素在字体到达之前就已排好版，Chromium 不会替它们重新排字，
// 于是一直显示成方框；临时改动一个不影响外观的属性（font-kerning）并强制布局即可触发重排。
// 按钮与输入框不继承父元素的字体属性，所以逐个处理。
document.fonts.ready.then(function () {
  var targets = [document.documentElement].concat(
    Array.prototype.slice.call(document.querySelectorAll("button, input"))
  );
  targets.forEach(function (el) { el.style.fontKerning = "none"; });
  void document.documentElement.offsetHeight;
  targets.forEach(function (el) { el.style.fontKerning = ""; });
  document.documentElement.classList.add("optlab-fonts-ready");
});
