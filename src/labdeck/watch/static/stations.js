export default { mount(section) {} };
