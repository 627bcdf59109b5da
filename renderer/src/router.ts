/**
 * Screens. Hash history: the same bundle is loaded from file:// in Electron and from the browser-mode
 * server, and the page's query string (?token=&session=) must survive navigation.
 */
import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router';
import HomeView from './views/HomeView.vue';

export interface NavItem {
  name: string;
  label: string;
  path: string;
  key: string; // Alt+<key> jumps there
}

export const NAV: NavItem[] = [
  { name: 'home', label: 'Home', path: '/', key: '1' },
  { name: 'session', label: 'Session', path: '/session', key: '2' },
  { name: 'load', label: 'Load checkpoints', path: '/load', key: '3' },
  { name: 'measure', label: 'Measure', path: '/measure', key: '4' },
  { name: 'monitor', label: 'Run monitor', path: '/monitor', key: '5' },
  { name: 'charts', label: 'Charts', path: '/charts', key: '6' },
  { name: 'laws', label: 'Laws', path: '/laws', key: '7' },
  { name: 'method', label: 'Method', path: '/method', key: '8' },
  { name: 'compare', label: 'Compare', path: '/compare', key: '9' },
];

const routes: RouteRecordRaw[] = [
  { path: '/', name: 'home', component: HomeView },
  { path: '/session', name: 'session', component: () => import('./views/SessionView.vue') },
  { path: '/load', name: 'load', component: () => import('./views/LoadCheckpointsView.vue') },
  { path: '/measure', name: 'measure', component: () => import('./views/MeasureView.vue') },
  { path: '/monitor', name: 'monitor', component: () => import('./views/MonitorView.vue') },
  { path: '/charts', name: 'charts', component: () => import('./views/ChartsView.vue') },
  { path: '/run/:id', name: 'run', component: () => import('./views/RunView.vue') },
  { path: '/method', name: 'method', component: () => import('./views/MethodView.vue') },
  { path: '/laws', name: 'laws', component: () => import('./views/LawsView.vue') },
  { path: '/compare', name: 'compare', component: () => import('./views/CompareView.vue') },
  { path: '/:rest(.*)*', redirect: '/' },
];

export const router = createRouter({ history: createWebHashHistory(), routes });
