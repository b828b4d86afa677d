// 中文网页字体加载完成后，让字体到达之前就排好版的文字重新排字。
//
// 侧栏标题、搜索按钮、侧栏条目等在字体到达之前就已排版，Chromium 用当时的回退字体（没有汉字）
// 排出的结果按“字体描述 + 文字”缓存：即使元素重新布局，只要字体描述不变就继续用缓存里的方框。
// 所以这里不是把某个属性改了再改回去，而是字体到达后给 <html> 加上 optlab-fonts-ready 类，
// optlab.css 据此永久加上一个不影响外观的字体特性（字体里不存在的 OpenType 特性标签，排字时被忽略），
// 字体描述变成一个新的、没有旧缓存的值，所有文字按已到达的中文字体重新排字。
(function () {
  var root = document.documentElement;
  function ready() { root.classList.add("optlab-fonts-ready"); }
  if (!document.fonts || !document.fonts.load) { ready(); return; }
  var domReady = new Promise(function (resolve) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", resolve);
    else resolve();
  });
  // 显式请求中文字体：document.fonts.ready 在还没有任何字体请求时会立即完成，不能用它等字体
  var fontLoaded = document.fonts.load('16px "Optlab CJK"', "中文").catch(function () {});
  Promise.all([domReady, fontLoaded]).then(function () {
    return document.fonts.ready;
  }).then(ready, ready);
})();
